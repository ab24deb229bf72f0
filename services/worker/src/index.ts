/**
 * The worker as a library: other tests and benchmarks run it in-process with
 * `startWorker(config)`; `main.ts` is the process around the same parts.
 */
import type { WorkerConfig } from './config.js'
import type { Registry } from 'prom-client'
import { startHealthServer } from './health.js'
import { workerMetrics } from './metrics.js'
import { Worker, type WorkerOptions, type WorkerStats } from './worker.js'

export { startHealthServer, type HealthOptions, type HealthServer } from './health.js'
export { workerMetrics, type WorkerMetrics } from './metrics.js'
export { Worker, type MessageRef, type WorkerEvents, type WorkerOptions, type WorkerStats } from './worker.js'

export interface StartWorkerOptions extends WorkerOptions {
  /** Also serve /healthz, /readyz and /metrics on config.healthHost:config.healthPort (0: a free port). */
  health?: boolean
}

export interface RunningWorker {
  readonly worker: Worker
  /** Live counters (the same object the worker updates). */
  readonly stats: WorkerStats
  /** Port of the probe endpoint when `health` was asked for. */
  readonly healthPort: number | undefined
  /** The worker's Prometheus registry (served at /metrics with `health` and METRICS_ENABLED). */
  readonly metrics: Registry
  /** Stops polling, drains messages in flight (bounded by config.shutdownTimeoutMs). Idempotent. */
  close: () => Promise<void>
}

/**
 * Starts a worker and resolves once it polls (queue, poison queue and table
 * exist by then). Storage that is down is retried, so this waits for it.
 */
export async function startWorker (config: WorkerConfig, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const worker = new Worker(config, options)
  const metrics = workerMetrics(worker)
  const health = options.health === true
    ? await startHealthServer({ host: config.healthHost, port: config.healthPort, notReady: () => worker.notReady(), notLive: () => worker.notLive(), log: worker.log, ...(config.metricsEnabled ? { metrics: metrics.registry } : {}) })
    : undefined
  let closed: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closed ??= (async () => {
      await worker.close()
      await health?.close()
      metrics.detach()
    })()
    await closed
  }
  try {
    await worker.start()
  } catch (err) {
    await close()
    throw err
  }
  return { worker, stats: worker.stats, healthPort: health?.port, metrics: metrics.registry, close }
}
