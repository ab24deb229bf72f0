/**
 * Prometheus metrics, as prom-client names them: an app prefix (`codegate_`),
 * base units (seconds, bytes), `_total` on counters, and never a label that
 * names a code, a subject or a client (cardinality, and secrets). Each
 * process has its own registry, served at /metrics; its metrics are declared
 * beside the process (services/api/src/metrics.ts, services/worker/src/metrics.ts).
 */
import { collectDefaultMetrics, Registry } from 'prom-client'

export const METRIC_PREFIX = 'codegate_'

/** Buckets for calls that take milliseconds to seconds (storage, the third party). */
export const CALL_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Buckets for an activation's lag: idle back-off (≤ 1 s by default), up to a crashed worker's visibility timeout and beyond. */
export const LAG_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120]

/**
 * A registry for one process, with Node's process metrics (CPU, memory,
 * event-loop lag, GC) under the same prefix and a `service` label on every
 * series so api and worker can share a Prometheus job.
 */
export function createMetricsRegistry (service: string): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX })
  return registry
}
