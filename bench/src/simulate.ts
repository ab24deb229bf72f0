/**
 * A deterministic (seeded) simulation of codegate on Azure: N queue shards,
 * W worker replicas and A api replicas against Azure Storage's published
 * targets, with the per-code operations counted by the bench's proxy and the
 * CPU and latency per operation measured on this machine (docs/scale.md).
 *
 * Time advances in ticks. Every tick each limited resource gets its budget
 * (a queue shard's messages, the account's requests, a table partition's
 * entities, each replica's CPU milliseconds), and the work of the tick takes
 * from it: the api issues codes onto the shard their hash picks, the workers
 * receive from every shard in turn and activate or expire what they got.
 * Work that finds a budget spent waits for the next tick, so a resource that
 * binds shows as utilization near 1 and a backlog that grows. Nothing here
 * reads a clock or an unseeded random number: a seed gives one output.
 */
import { Random } from '@codegate/stack/random'

/** Azure Storage scalability targets (docs/scale.md cites the pages). */
export interface Targets {
  /** Messages per second per queue (1 KiB messages). */
  queueMessagesPerSecond: number
  /** Requests per second per storage account. */
  accountRequestsPerSecond: number
  /** Entities per second per table partition. */
  partitionEntitiesPerSecond: number
  /** Table partitions the codes are spread over (two hex digits of the hash). */
  partitions: number
}

export const AZURE_TARGETS: Targets = {
  queueMessagesPerSecond: 2000,
  accountRequestsPerSecond: 20_000,
  partitionEntitiesPerSecond: 2000,
  partitions: 256
}

/** What one operation costs; provenance of each figure in docs/scale.md. */
export interface Costs {
  /** CPU of the api per getcode, ms (docs/benchmarks.md figure 1: 0.75–0.9 ms). */
  apiCpuMsPerGetcode: number
  /** CPU of the api per sign-in, ms (not measured: taken equal to a getcode). */
  apiCpuMsPerSignIn: number
  /** CPU of the worker per message handled, ms (docs/benchmarks.md figure 2: 216 activations/s at 0.23 cores). */
  workerCpuMsPerMessage: number
  /** Cores of one replica (infra/deploy.sh: 0.5). */
  replicaCores: number
  /** Messages a worker has in flight at most (WORKER_MAX_IN_FLIGHT). */
  workerMaxInFlight: number
  /** Storage latency per call, ms (bench/src/scale-inputs.ts, p50 at one call in flight). */
  latencyMs: { receive: number, insert: number, update: number, deleteRow: number, deleteMessage: number }
}

export const MEASURED_COSTS: Costs = {
  apiCpuMsPerGetcode: 0.85,
  apiCpuMsPerSignIn: 0.85,
  workerCpuMsPerMessage: 1.06,
  replicaCores: 0.5,
  workerMaxInFlight: 64,
  // p50s of `npm run scale-inputs` on this machine under a load average of ~25 (docs/scale.md).
  latencyMs: { receive: 45, insert: 13.4, update: 24.9, deleteRow: 7.1, deleteMessage: 7.3 }
}

export interface Scenario {
  name: string
  /** Codes per second offered to the api (Poisson arrivals). */
  rate: number
  shards: number
  workers: number
  apiReplicas: number
  /** Storage accounts the codes are spread over evenly (codegate itself uses one; more is a what-if). */
  accounts?: number
  /** Each code signed in once (a get and a merge; at expiry a delete refused with 412, a get and a delete). */
  signIn: boolean
}

export interface SimulationOptions {
  seed: number
  /** Simulated seconds; the first `ttlSeconds` fill the pipeline (expires start to come back) and are not measured. */
  seconds: number
  /** The code TTL in the simulation: short, since only the steady state matters (throughput does not depend on it). */
  ttlSeconds: number
  tickMs: number
  targets: Targets
  costs: Costs
}

export const DEFAULT_OPTIONS: SimulationOptions = {
  seed: 1,
  seconds: 40,
  ttlSeconds: 20,
  tickMs: 50,
  targets: AZURE_TARGETS,
  costs: MEASURED_COSTS
}

export type ResourceName = 'queue shard' | 'storage account' | 'table partition' | 'api CPU' | 'worker CPU' | 'worker receive loop'

export interface ScenarioResult {
  scenario: Scenario
  /** Codes issued per second (the api answered 200) in the measured window. */
  issuedPerSecond: number
  activatedPerSecond: number
  expiredPerSecond: number
  /** Utilization of the busiest instance of each resource over the window (1 = its whole target or capacity). */
  utilization: Record<ResourceName, number>
  /** The resource at or near its limit (≥ 0.97), or undefined. */
  binds: ResourceName | undefined
  /** Growth of the waiting work per second (getcode requests not yet served plus visible messages). */
  backlogGrowthPerSecond: number
  /** Mean wait of an activate in its queue, ms. */
  meanActivationWaitMs: number
  /** Storage requests per code issued in the window. */
  transactionsPerCode: number
}

interface WorkerState {
  turn: number
  /** Empty receives in a row (a whole round of them: back off). */
  empties: number
  /** CPU ms left at the end of the last tick (carried up to one message's worth). */
  cpu: number
  /** Ticks left asleep after a round of empty receives. */
  asleep: number
  backoffMs: number
}

const IDLE_MIN_MS = 50
const IDLE_MAX_MS = 1000
const THROTTLED_MS = 250

export function simulate (scenario: Scenario, options: SimulationOptions = DEFAULT_OPTIONS): ScenarioResult {
  const { targets, costs, tickMs } = options
  const random = new Random(options.seed)
  const dt = tickMs / 1000
  const ticks = Math.round(options.seconds / dt)
  const ttlTicks = Math.round(options.ttlSeconds / dt)
  const measureFrom = ttlTicks + Math.round(2 / dt)
  const accounts = scenario.accounts ?? 1
  const { shards: n, workers: w } = scenario

  // Waiting work: getcode requests, visible activates (FIFO of [tick, count] per shard), visible expires, hidden expires by due tick.
  let apiWaiting = 0
  const activates: Array<Array<[number, number]>> = Array.from({ length: n }, () => [])
  const activateCount = new Array<number>(n).fill(0)
  const expireVisible = new Array<number>(n).fill(0)
  const signedVisible = new Array<number>(n).fill(0)
  const due: Array<Map<number, [number, number]>> = Array.from({ length: n }, () => new Map())
  const workerStates: WorkerState[] = Array.from({ length: w }, (_, i) => ({ turn: i % n, empties: 0, cpu: 0, asleep: 0, backoffMs: IDLE_MIN_MS }))

  // Budgets of the tick and what was used over the measured window.
  const shardBudget = new Float64Array(n)
  const partitionBudget = new Float64Array(targets.partitions)
  let accountBudget = 0
  const used = { shard: new Float64Array(n), partition: new Float64Array(targets.partitions), account: 0, apiCpu: 0, workerCpu: 0, receives: 0 }
  const count = { issued: 0, activated: 0, expired: 0, waitTicks: 0 }
  let backlogAtStart = 0
  /** The api replicas' CPU ms left (a part of one request's worth carries over to the next tick). */
  let apiCpu = 0
  let measuring = false

  const has = (budget: Float64Array, i: number, amount: number): boolean => (budget[i] as number) >= amount
  const spend = (budget: Float64Array, i: number, amount: number): void => {
    budget[i] = (budget[i] as number) - amount
    if (measuring) {
      const total = budget === shardBudget ? used.shard : used.partition
      total[i] = (total[i] as number) + amount
    }
  }
  const spendAccount = (amount: number): void => {
    accountBudget -= amount
    if (measuring) used.account += amount
  }
  const backlog = (): number => apiWaiting + activateCount.reduce((a, b) => a + b, 0) + expireVisible.reduce((a, b) => a + b, 0)

  const apiCostMs = costs.apiCpuMsPerGetcode + (scenario.signIn ? costs.apiCpuMsPerSignIn : 0)
  const activateLatency = costs.latencyMs.insert + costs.latencyMs.update
  const expireLatency = costs.latencyMs.deleteRow + costs.latencyMs.deleteMessage

  for (let tick = 0; tick < ticks; tick++) {
    if (tick === measureFrom) { measuring = true; backlogAtStart = backlog() }
    shardBudget.fill(targets.queueMessagesPerSecond * dt)
    partitionBudget.fill(targets.partitionEntitiesPerSecond * dt)
    accountBudget = targets.accountRequestsPerSecond * accounts * dt

    // Expires whose hiding ends now become visible.
    for (let s = 0; s < n; s++) {
      const d = due[s]?.get(tick)
      if (d === undefined) continue
      expireVisible[s] = (expireVisible[s] as number) + d[0]
      signedVisible[s] = (signedVisible[s] as number) + d[1]
      due[s]?.delete(tick)
    }

    // The workers, starting with a different one each tick so none is always first.
    for (let k = 0; k < w; k++) {
      const state = workerStates[(tick + k) % w] as WorkerState
      if (state.asleep > 0) { state.asleep--; continue }
      let cpu = Math.min(state.cpu, costs.workerCpuMsPerMessage) + costs.replicaCores * tickMs
      // In flight at most maxInFlight, each for its storage calls: messages a tick allows.
      let slots = costs.workerMaxInFlight * tickMs / Math.min(activateLatency, expireLatency)
      let receiveTime = tickMs
      while (receiveTime >= costs.latencyMs.receive && cpu >= costs.workerCpuMsPerMessage && slots >= 1) {
        const s = state.turn
        state.turn = (state.turn + 1) % n
        receiveTime -= costs.latencyMs.receive
        const visible = (activateCount[s] as number) + (expireVisible[s] as number)
        if (accountBudget < 1 || (visible > 0 && (shardBudget[s] as number) < 2)) {
          // Throttled (Azure answers 503): the worker's error back-off, whose first step is 250 ms.
          state.asleep = Math.ceil(THROTTLED_MS / tickMs)
          break
        }
        spendAccount(1)
        if (measuring) used.receives++
        // Take only what can be finished this tick: each message needs one more touch of
        // its queue (rewrite or delete) and up to four account requests.
        const want = Math.min(32, visible, Math.floor(cpu / costs.workerCpuMsPerMessage), Math.floor(slots))
        const got = Math.max(0, Math.min(want, Math.floor((shardBudget[s] as number) / 2), Math.floor(accountBudget / 4)))
        if (got > 0) spend(shardBudget, s, got)
        if (got === 0) {
          if (visible === 0 && ++state.empties >= n) {
            // A whole round empty: the randomized back-off, doubling to its cap.
            state.empties = 0
            const sleepMs = state.backoffMs * (0.5 + 0.5 * random.next())
            state.backoffMs = Math.min(IDLE_MAX_MS, state.backoffMs * 2)
            state.asleep = Math.floor(sleepMs / tickMs)
            break
          }
          continue
        }
        state.empties = 0
        state.backoffMs = IDLE_MIN_MS
        // Messages come out in about the order they became visible: activates and expires in proportion.
        let acts = Math.round(got * (activateCount[s] as number) / visible)
        let exps = got - acts
        while (acts > 0) {
          // Insert the row, rewrite the message as the expire.
          const p = random.int(targets.partitions)
          if (!has(partitionBudget, p, 1) || !has(shardBudget, s, 1) || accountBudget < 2) break
          spend(partitionBudget, p, 1)
          spend(shardBudget, s, 1)
          spendAccount(2)
          acts--
          const fifo = activates[s] as Array<[number, number]>
          const head = fifo[0] as [number, number]
          if (measuring) { count.activated++; count.waitTicks += tick - head[0] }
          if (--head[1] === 0) fifo.shift()
          activateCount[s] = (activateCount[s] as number) - 1
          const at = tick + ttlTicks
          const entry = due[s]?.get(at) ?? [0, 0]
          entry[0]++
          if (scenario.signIn) entry[1]++
          due[s]?.set(at, entry)
          cpu -= costs.workerCpuMsPerMessage
          slots--
          if (measuring) used.workerCpu += costs.workerCpuMsPerMessage
        }
        while (exps > 0) {
          const signed = (signedVisible[s] as number) > 0
          const rows = signed ? 3 : 1
          // Delete the row (after a sign-in: refused with 412, read, deleted), delete the message.
          const p = random.int(targets.partitions)
          if (!has(partitionBudget, p, rows) || !has(shardBudget, s, 1) || accountBudget < rows + 1) break
          spend(partitionBudget, p, rows)
          spend(shardBudget, s, 1)
          spendAccount(rows + 1)
          exps--
          expireVisible[s] = (expireVisible[s] as number) - 1
          if (signed) signedVisible[s] = (signedVisible[s] as number) - 1
          cpu -= costs.workerCpuMsPerMessage
          slots--
          if (measuring) { count.expired++; used.workerCpu += costs.workerCpuMsPerMessage }
        }
      }
      state.cpu = cpu
    }
    // The api, after the workers: storage spent on draining is not spent on new codes, so a
    // limit shows as getcode requests waiting rather than codes stuck half way. Each request
    // costs CPU; its send needs the shard's and the account's budget; a sign-in a get and a
    // merge on the code's partition (taken at issue, for simplicity).
    apiWaiting += random.poisson(scenario.rate * dt)
    apiCpu = Math.min(apiCpu, apiCostMs) + scenario.apiReplicas * costs.replicaCores * tickMs
    let attempts = apiWaiting
    while (attempts-- > 0 && apiCpu >= apiCostMs) {
      const s = random.int(n)
      const p = random.int(targets.partitions)
      const requests = scenario.signIn ? 3 : 1
      if (!has(shardBudget, s, 1) || accountBudget < requests) continue
      if (scenario.signIn) {
        if (!has(partitionBudget, p, 2)) continue
        spend(partitionBudget, p, 2)
      }
      spend(shardBudget, s, 1)
      spendAccount(requests)
      apiCpu -= apiCostMs
      if (measuring) { used.apiCpu += apiCostMs; count.issued++ }
      apiWaiting--
      const fifo = activates[s] as Array<[number, number]>
      const last = fifo[fifo.length - 1]
      if (last !== undefined && last[0] === tick) last[1]++
      else fifo.push([tick, 1])
      activateCount[s] = (activateCount[s] as number) + 1
    }
  }

  const seconds = (ticks - measureFrom) * dt
  const max = (xs: Float64Array): number => xs.reduce((a, b) => Math.max(a, b), 0)
  const utilization: Record<ResourceName, number> = {
    'queue shard': max(used.shard) / (targets.queueMessagesPerSecond * seconds),
    'storage account': used.account / (targets.accountRequestsPerSecond * accounts * seconds),
    'table partition': max(used.partition) / (targets.partitionEntitiesPerSecond * seconds),
    'api CPU': used.apiCpu / (scenario.apiReplicas * costs.replicaCores * 1000 * seconds),
    'worker CPU': used.workerCpu / (w * costs.replicaCores * 1000 * seconds),
    'worker receive loop': used.receives * costs.latencyMs.receive / (w * 1000 * seconds)
  }
  let binds: ResourceName | undefined
  let highest = 0
  for (const [name, u] of Object.entries(utilization) as Array<[ResourceName, number]>) {
    if (u >= 0.97 && u > highest) { binds = name; highest = u }
  }
  const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d
  for (const key of Object.keys(utilization) as ResourceName[]) utilization[key] = round(utilization[key])
  return {
    scenario,
    issuedPerSecond: round(count.issued / seconds, 1),
    activatedPerSecond: round(count.activated / seconds, 1),
    expiredPerSecond: round(count.expired / seconds, 1),
    utilization,
    binds,
    backlogGrowthPerSecond: round((backlog() - backlogAtStart) / seconds, 1),
    meanActivationWaitMs: round(count.activated > 0 ? count.waitTicks / count.activated * tickMs : Number.NaN, 0),
    transactionsPerCode: round(count.issued > 0 ? used.account / count.issued : Number.NaN, 2)
  }
}
