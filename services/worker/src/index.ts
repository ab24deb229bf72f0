/**
 * The worker as a library: other tests and benchmarks run it in-process with
 * `startWorker(config)`; `main.ts` is the process around the same parts.
 */
import type { WorkerConfig } from '@codegate/shared'
import { startHealthServer } from './health.js'
import { Worker, type WorkerOptions, type WorkerStats } from './worker.js'

export { Backoff } from './backoff.js'
export { startHealthServer, type HealthOptions, type HealthServer } from './health.js'
export { Worker, type WorkerOptions, type WorkerStats } from './worker.js'

export interface StartWorkerOptions extends WorkerOptions {
  /** Also serve /healthz and /readyz on config.healthHost:config.healthPort (0: a free port). */
  health?: boolean
}

export interface RunningWorker {
  readonly worker: Worker
  /** Live counters (the same object the worker updates). */
  readonly stats: WorkerStats
  /** Port of the probe endpoint when `health` was asked for. */
  readonly healthPort: number | undefined
  /** Stops polling, drains messages in flight (bounded by config.shutdownTimeoutMs). Idempotent. */
  close: () => Promise<void>
}

/**
 * Starts a worker and resolves once it polls (queue, poison queue and table
 * exist by then). Storage that is down is retried, so this waits for it.
 */
export async function startWorker (config: WorkerConfig, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const worker = new Worker(config, options)
  const health = options.health === true
    ? await startHealthServer({ host: config.healthHost, port: config.healthPort, notReady: () => worker.notReady(), notLive: () => worker.notLive(), log: worker.log })
    : undefined
  let closed: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closed ??= (async () => {
      await worker.close()
      await health?.close()
    })()
    await closed
  }
  try {
    await worker.start()
  } catch (err) {
    await close()
    throw err
  }
  return { worker, stats: worker.stats, healthPort: health?.port, close }
}
