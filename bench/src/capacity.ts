/**
 * The capacity model of docs/scale.md, as arithmetic: the storage
 * operations per code (counted at the bench's proxy, docs/benchmarks.md
 * figure 3), Azure's targets, and the CPU per operation give the codes/s one
 * queue, one account, one table partition and one replica carry, and the
 * sizes needed at a rate. The simulation (simulate.ts) reproduces these
 * ceilings from the same inputs by running the flow.
 */
import { AZURE_TARGETS, MEASURED_COSTS, type Costs, type Targets } from './simulate.js'

/** Storage operations per code, counted by bench/src/counting-proxy.ts (docs/benchmarks.md, figure 3, full run). */
export interface PerCode {
  /** Messages each code's requests touch on its queue: sent, received, rewritten, received, deleted. */
  queueMessages: number
  /** Queue requests: send, update, delete, and the code's share of receives. */
  queueRequests: number
  /** Table requests (entities). */
  tableRequests: number
}

export const PER_CODE: Record<'issued' | 'signedIn', PerCode> = {
  // 1,024 codes at load: send 1, update 1, delete 1, receive 0.088; insert 1, delete 1.
  issued: { queueMessages: 5, queueRequests: 3.088, tableRequests: 2 },
  // 500 codes at 50/s, each signed in once: receives 1.646; insert 1, get 2, merge 1, delete 2 (one refused with 412).
  signedIn: { queueMessages: 5, queueRequests: 4.646, tableRequests: 6 }
}

/** Share of a target or a replica's CPU a plan may use: room for bursts and for the hash's unevenness. */
export const HEADROOM = 0.7

export interface Ceilings {
  perQueue: number
  /** The same, if Azure counted requests rather than messages touched. */
  perQueueByRequests: number
  perAccount: number
  perPartition: number
  /** All 256 partitions, evenly loaded. */
  perTable: number
  perWorkerReplica: number
  perApiReplica: number
}

export function ceilings (perCode: PerCode, signIn: boolean, targets: Targets = AZURE_TARGETS, costs: Costs = MEASURED_COSTS): Ceilings {
  const apiMs = costs.apiCpuMsPerGetcode + (signIn ? costs.apiCpuMsPerSignIn : 0)
  return {
    perQueue: targets.queueMessagesPerSecond / perCode.queueMessages,
    perQueueByRequests: targets.queueMessagesPerSecond / perCode.queueRequests,
    perAccount: targets.accountRequestsPerSecond / (perCode.queueRequests + perCode.tableRequests),
    perPartition: targets.partitionEntitiesPerSecond / perCode.tableRequests,
    perTable: targets.partitionEntitiesPerSecond * targets.partitions / perCode.tableRequests,
    // Two messages per code (activate, expire).
    perWorkerReplica: costs.replicaCores * 1000 / (2 * costs.workerCpuMsPerMessage),
    perApiReplica: costs.replicaCores * 1000 / apiMs
  }
}

export interface Plan {
  rate: number
  shards: number
  workers: number
  apiReplicas: number
  accounts: number
  /** Messages stored at once (hidden expires): rate × TTL. */
  storedMessages: number
  transactionsPerSecond: number
  transactionsPerMillionCodes: number
}

/** What a rate needs, each resource used to HEADROOM of its ceiling. */
export function plan (rate: number, signIn: boolean, ttlSeconds = 600): Plan {
  const perCode = PER_CODE[signIn ? 'signedIn' : 'issued']
  const c = ceilings(perCode, signIn)
  const need = (ceiling: number): number => Math.max(1, Math.ceil(rate / (ceiling * HEADROOM)))
  const tx = perCode.queueRequests + perCode.tableRequests
  return {
    rate,
    shards: need(c.perQueue),
    workers: need(c.perWorkerReplica),
    apiReplicas: need(c.perApiReplica),
    accounts: need(c.perAccount),
    storedMessages: rate * ttlSeconds,
    transactionsPerSecond: Math.round(rate * tx),
    transactionsPerMillionCodes: Math.round(tx * 1_000_000)
  }
}
