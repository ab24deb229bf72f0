/**
 * The worker's metrics (Prometheus on its health port, and OpenTelemetry
 * when an exporter is set: @codegate/shared/metrics), fed by its typed
 * events (worker.ts) and its live counters; never a per-code label.
 */
import { LAG_SECONDS_BUCKETS, MetricSet, zeroSeries } from '@codegate/shared/metrics'
import type { Registry } from 'prom-client'
import type { Worker, WorkerEvents } from './worker.js'

export interface WorkerMetrics {
  registry: Registry
  /** Stops listening to the worker. */
  detach: () => void
}

/** Lateness of an expiry: the expire is hidden until expiresAt (rounded up to a second), then one poll. */
const LATENESS_SECONDS_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900]

/** The events that end a message's handling: the outcome label of worker_messages_total. */
const OUTCOMES = ['activated', 'expired', 'requeued', 'dropped', 'poisoned', 'failed'] as const

/** Listens to one of the worker's events; returns what stops it. */
function listen<E extends keyof WorkerEvents> (worker: Worker, event: E, listener: (...args: WorkerEvents[E]) => void): () => void {
  // Node's typed EventEmitter cannot relate a generic key E to its listener
  // type; the signature above is what checks the pair.
  worker.on(event, listener as never)
  return () => { worker.off(event, listener as never) }
}

export function workerMetrics (worker: Worker, set: MetricSet = new MetricSet('worker')): WorkerMetrics {
  // Zero until the first event, so a rate() or an alert has a series to read.
  const messages = set.counter({
    name: 'worker_messages_total',
    help: 'Messages handled, by outcome (activated, expired, requeued, dropped, poisoned, failed)',
    labelNames: ['outcome'],
    zero: zeroSeries('outcome', OUTCOMES)
  })
  const activationLag = set.histogram({
    name: 'activation_lag_seconds',
    help: 'Time from a code\'s issue (issuedAt) to its row being written by the worker',
    buckets: LAG_SECONDS_BUCKETS
  })
  const expiries = set.counter({
    name: 'expiries_total',
    help: 'Expire messages done, by what the row was: deleted, absent (consumed by a sign-in) or newer (another issue of the same code)',
    labelNames: ['result'],
    zero: zeroSeries('result', ['deleted', 'absent', 'newer'])
  })
  const lateness = set.histogram({
    name: 'expiry_lateness_seconds',
    help: 'How long after its expiresAt a code\'s row was deleted (or found gone)',
    buckets: LATENESS_SECONDS_BUCKETS
  })
  const poisoned = set.counter({
    name: 'poison_messages_total',
    help: 'Messages sent to the poison queue, by cause: unreadable, implausible (no api could have sent it), exhausted (kept failing)',
    labelNames: ['cause'],
    zero: zeroSeries('cause', ['unreadable', 'implausible', 'exhausted'])
  })
  const batch = set.histogram({
    name: 'worker_receive_batch_messages',
    help: 'Messages returned by one receive (0: an empty poll)',
    buckets: [0, 1, 2, 4, 8, 16, 32]
  })
  set.gauge({ name: 'worker_in_flight_messages', help: 'Messages being handled now' }, () => worker.stats.inFlight)
  set.gauge({
    name: 'worker_last_poll_age_seconds',
    help: 'Seconds since the last successful receive; -1 before the first (readiness fails above 5 × WORKER_MAX_BACKOFF_MS, at least 5 s)'
  }, () => {
    const last = worker.stats.lastPollAt
    return last === undefined ? -1 : (Date.now() - last.getTime()) / 1000
  })
  set.observedCounter({ name: 'worker_errors_total', help: 'Failed polls, setup calls and message handlings' }, () => worker.stats.errors)

  // Each outcome event counts once in worker_messages_total, and some feed a figure of their own.
  const detachers = OUTCOMES.map((outcome) => listen(worker, outcome, () => { messages.inc({ outcome }) }))
  detachers.push(
    listen(worker, 'activated', (e) => { activationLag.observe(Math.max(0, e.lagMs) / 1000) }),
    listen(worker, 'expired', (e) => { expiries.inc({ result: e.result }); lateness.observe(Math.max(0, e.lateMs) / 1000) }),
    listen(worker, 'poisoned', (e) => { poisoned.inc({ cause: e.cause }) }),
    listen(worker, 'received', (e) => { batch.observe(e.count) })
  )
  return {
    registry: set.registry,
    detach: () => { for (const detach of detachers) detach() }
  }
}
