/**
 * Figure 2: worker throughput (codes activated per second) against a bare
 * loop making the same storage calls at the same concurrency, at several
 * backlogs. A backlog is the number of messages stored in the queue while the
 * consumer works: in production every live code sits there, hidden, for its
 * TTL, so the backlog is rate × TTL. Here it is built directly (B activates
 * put on the queue before the consumer starts; each stays stored as its
 * expire), with an expiry past the end of the run so no expire comes back
 * mid-measurement. Each run gets a fresh Azurite: its costs grow with every
 * message it holds.
 */
import { startAzurite, type ManagedProcess } from '@codegate/stack'
import { createQueues, createTableClient } from '@codegate/shared/clients'
import { forkChild } from '../child.js'
import type { BareWorkerRequest, BareWorkerResult } from '../children/bare-worker.js'
import { fillActivates } from '../fill.js'
import type { Mode } from '../modes.js'
import { CpuMeter, memoryOf, type Memory } from '../proc.js'
import { ratio, round, type LatencySummary } from '../stats.js'
import { eventCounter, noWorkerEvents, startWorkerProcess, storageConfig, type Env } from '../system.js'

export type WorkerTarget = 'bare-loop' | 'worker'

export interface WorkerRun {
  target: WorkerTarget
  backlog: number
  activated: number
  seconds: number
  perSecond: number
  cpu: Record<string, number>
  /** From the bare loop: what one receive call cost at this backlog. */
  receiveLatency?: LatencySummary
  memory?: Memory
}

export interface WorkerFigures {
  batchSize: number
  maxInFlight: number
  runs: WorkerRun[]
  /**
   * Per backlog: the best activations per second of each consumer over the
   * alternating repeats (another user of the machine only ever slows a run
   * down), worker ÷ bare loop, and the same per second of CPU that the
   * consumer and Azurite used (insensitive to what else ran).
   */
  ratios: { backlog: number, bareLoop: number, worker: number, ratio: number, bareLoopPerCoreSecond: number, workerPerCoreSecond: number, perCoreSecondRatio: number }[]
  /** Lowest ratio over the backlogs. */
  ratio: number
  target: number
  met: boolean
  /** After the run at the largest backlog. */
  workerMemory: Memory | undefined
  bareLoopMemory: Memory | undefined
}

export interface WorkerOptions {
  /** The CLI's process.env, which the processes inherit. */
  baseEnv: Env
  nodeFlags: string[]
  log: (line: string) => void
}

const BATCH = 32
const IN_FLIGHT = 64
/** Past the end of any run: the expires stay hidden (and stored). */
const TTL_SECONDS = 3600

/** Activations per second of CPU spent by the consumer and Azurite: what a run costs, whatever else the machine was doing. */
function perCoreSecond (run: WorkerRun): number {
  const cores = (run.cpu[run.target] ?? 0) + (run.cpu['azurite-queue'] ?? 0) + (run.cpu['azurite-table'] ?? 0)
  return cores > 0 ? round(run.perSecond / cores, 1) : Number.NaN
}

async function runOnce (target: WorkerTarget, backlog: number, options: WorkerOptions): Promise<WorkerRun> {
  const azurite = await startAzurite()
  let worker: ManagedProcess | undefined
  let bare: Awaited<ReturnType<typeof forkChild<BareWorkerRequest, BareWorkerResult>>> | undefined
  try {
    const config = storageConfig(azurite.connectionString)
    const queues = createQueues(config)
    const table = createTableClient(config)
    await Promise.all([queues.queue.createIfNotExists(), queues.poison.createIfNotExists(), table.createTable()])
    await fillActivates(queues.queue, backlog, TTL_SECONDS)
    const [azuriteQueue, azuriteTable] = azurite.pids
    const timeoutMs = 30_000 + backlog * 100
    if (target === 'bare-loop') {
      bare = await forkChild<BareWorkerRequest, BareWorkerResult>('bare-worker', { baseEnv: options.baseEnv, execArgv: options.nodeFlags, env: { BENCH_CONNECTION_STRING: azurite.connectionString } })
      const meter = new CpuMeter(() => ({ 'bare-loop': bare?.pid, 'azurite-queue': azuriteQueue, 'azurite-table': azuriteTable, bench: process.pid }))
      meter.start()
      const result = await bare.call({ activations: backlog, batchSize: BATCH, maxInFlight: IN_FLIGHT, visibilityTimeoutSeconds: 30 }, timeoutMs)
      const cpu = meter.stop()
      const memory = memoryOf(bare.pid)
      const seconds = (result.endedAt - result.startedAt) / 1000
      return { target, backlog, activated: result.activated, seconds: round(seconds), perSecond: round(result.activated / seconds, 1), cpu, receiveLatency: result.receiveLatency, ...(memory !== undefined ? { memory } : {}) }
    }
    const events = noWorkerEvents()
    let done: () => void = () => {}
    const finished = new Promise<void>((resolve) => { done = resolve })
    worker = await startWorkerProcess('worker', {
      STORAGE_CONNECTION_STRING: azurite.connectionString,
      LOG_LEVEL: 'info',
      // The worker poisons an activate whose life is longer than the codes it expects.
      CODE_TTL_SECONDS: String(TTL_SECONDS),
      WORKER_BATCH_SIZE: String(BATCH),
      WORKER_MAX_IN_FLIGHT: String(IN_FLIGHT)
    }, options.nodeFlags, eventCounter(events, () => { if (events.activated >= backlog) done() }), options.baseEnv)
    // From the worker's first poll on (it is ready once it has polled), so its own start-up is not counted.
    const running = worker
    const meter = new CpuMeter(() => ({ worker: running.pid, 'azurite-queue': azuriteQueue, 'azurite-table': azuriteTable, bench: process.pid }))
    meter.start()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([finished, new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`the worker activated ${events.activated} of ${backlog} in ${timeoutMs} ms${events.lost > 0 ? ` (${events.lost} events lost on its channel)` : ''}`)) }, timeoutMs) })])
    clearTimeout(timer)
    const cpu = meter.stop()
    const memory = memoryOf(worker.pid)
    const seconds = (events.lastAt - events.startedAt) / 1000
    return { target, backlog, activated: events.activated, seconds: round(seconds), perSecond: round(events.activated / seconds, 1), cpu, ...(memory !== undefined ? { memory } : {}) }
  } finally {
    await bare?.stop()
    await worker?.stop()
    await azurite.stop()
  }
}

export async function runWorker (mode: Mode, options: WorkerOptions): Promise<WorkerFigures> {
  const runs: WorkerRun[] = []
  const ratios: WorkerFigures['ratios'] = []
  let workerMemory: Memory | undefined
  let bareLoopMemory: Memory | undefined
  for (const backlog of mode.worker.backlogs) {
    const best: Partial<Record<WorkerTarget, WorkerRun>> = {}
    for (let repeat = 0; repeat < mode.workerRepeats; repeat++) {
      // Alternating which goes first, so a change in the machine's load does not always favour one.
      const order: WorkerTarget[] = repeat % 2 === 0 ? ['bare-loop', 'worker'] : ['worker', 'bare-loop']
      for (const target of order) {
        const run = await runOnce(target, backlog, options)
        const current = best[target]
        if (current === undefined || run.perSecond > current.perSecond) best[target] = run
        runs.push(run)
        if (run.memory !== undefined && target === 'worker') workerMemory = run.memory
        if (run.memory !== undefined && target === 'bare-loop') bareLoopMemory = run.memory
        options.log(`worker   ${target.padEnd(10)} backlog ${String(backlog).padStart(5)}  ${String(run.perSecond).padStart(7)} activations/s  (${run.activated} in ${run.seconds} s)${run.receiveLatency !== undefined ? `  receive p50 ${run.receiveLatency.p50} ms` : ''}  cpu ${JSON.stringify(run.cpu)}`)
      }
    }
    const bare = best['bare-loop']
    const worker = best.worker
    ratios.push({
      backlog,
      bareLoop: bare?.perSecond ?? Number.NaN,
      worker: worker?.perSecond ?? Number.NaN,
      ratio: ratio(worker?.perSecond, bare?.perSecond),
      bareLoopPerCoreSecond: bare !== undefined ? perCoreSecond(bare) : Number.NaN,
      workerPerCoreSecond: worker !== undefined ? perCoreSecond(worker) : Number.NaN,
      perCoreSecondRatio: bare !== undefined && worker !== undefined ? ratio(perCoreSecond(worker), perCoreSecond(bare)) : Number.NaN
    })
  }
  const lowest = Math.min(...ratios.map((r) => r.ratio))
  return { batchSize: BATCH, maxInFlight: IN_FLIGHT, runs, ratios, ratio: lowest, target: 0.9, met: lowest >= 0.9, workerMemory, bareLoopMemory }
}
