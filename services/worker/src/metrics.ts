/**
 * The worker's Prometheus metrics, fed by its typed events (worker.ts) and
 * its live counters; never a per-code label.
 */
import { LAG_SECONDS_BUCKETS, METRIC_PREFIX, createMetricsRegistry } from '@codegate/shared/metrics'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { Worker } from './worker.js'

export interface WorkerMetrics {
  registry: Registry
  /** Stops listening to the worker. */
  detach: () => void
}

/** Lateness of an expiry: the expire is hidden until expiresAt (rounded up to a second), then one poll. */
const LATENESS_SECONDS_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900]

export function workerMetrics (worker: Worker, registry: Registry = createMetricsRegistry('worker')): WorkerMetrics {
  const registers = [registry]
  const name = (n: string): string => `${METRIC_PREFIX}${n}`
  const messages = new Counter({
    name: name('worker_messages_total'),
    help: 'Messages handled, by outcome (activated, expired, requeued, dropped, poisoned, failed)',
    labelNames: ['outcome'] as const,
    registers
  })
  const activationLag = new Histogram({
    name: name('activation_lag_seconds'),
    help: 'Time from a code\'s issue (issuedAt) to its row being written by the worker',
    buckets: LAG_SECONDS_BUCKETS,
    registers
  })
  const expiries = new Counter({
    name: name('expiries_total'),
    help: 'Expire messages done, by what the row was: deleted, absent (consumed by a sign-in) or newer (another issue of the same code)',
    labelNames: ['result'] as const,
    registers
  })
  const lateness = new Histogram({
    name: name('expiry_lateness_seconds'),
    help: 'How long after its expiresAt a code\'s row was deleted (or found gone)',
    buckets: LATENESS_SECONDS_BUCKETS,
    registers
  })
  const poisoned = new Counter({
    name: name('poison_messages_total'),
    help: 'Messages sent to the poison queue, by cause: unreadable, implausible (no api could have sent it), exhausted (kept failing)',
    labelNames: ['cause'] as const,
    registers
  })
  const batch = new Histogram({
    name: name('worker_receive_batch_messages'),
    help: 'Messages returned by one receive (0: an empty poll)',
    buckets: [0, 1, 2, 4, 8, 16, 32],
    registers
  })
  // Zero until the first event, so a rate() or an alert has a series to read.
  for (const outcome of ['activated', 'expired', 'requeued', 'dropped', 'poisoned', 'failed']) messages.labels(outcome).inc(0)
  for (const cause of ['unreadable', 'implausible', 'exhausted']) poisoned.labels(cause).inc(0)
  for (const result of ['deleted', 'absent', 'newer']) expiries.labels(result).inc(0)

  new Gauge({
    name: name('worker_in_flight_messages'),
    help: 'Messages being handled now',
    registers,
    collect () { this.set(worker.stats.inFlight) }
  })
  new Gauge({
    name: name('worker_last_poll_age_seconds'),
    help: 'Seconds since the last successful receive; -1 before the first (readiness fails above 5 × WORKER_MAX_BACKOFF_MS, at least 5 s)',
    registers,
    collect () {
      const last = worker.stats.lastPollAt
      this.set(last === undefined ? -1 : (Date.now() - last.getTime()) / 1000)
    }
  })
  new Counter({
    name: name('worker_errors_total'),
    help: 'Failed polls, setup calls and message handlings',
    registers,
    collect () { this.reset(); this.inc(worker.stats.errors) }
  })

  const listeners = {
    activated: (e: { lagMs: number }) => { messages.labels('activated').inc(); activationLag.observe(Math.max(0, e.lagMs) / 1000) },
    expired: (e: { result: string, lateMs: number }) => {
      messages.labels('expired').inc()
      expiries.labels(e.result).inc()
      lateness.observe(Math.max(0, e.lateMs) / 1000)
    },
    requeued: () => { messages.labels('requeued').inc() },
    dropped: () => { messages.labels('dropped').inc() },
    poisoned: (e: { cause: string }) => { messages.labels('poisoned').inc(); poisoned.labels(e.cause).inc() },
    failed: () => { messages.labels('failed').inc() },
    received: (e: { count: number }) => { batch.observe(e.count) }
  }
  worker.on('activated', listeners.activated)
  worker.on('expired', listeners.expired)
  worker.on('requeued', listeners.requeued)
  worker.on('dropped', listeners.dropped)
  worker.on('poisoned', listeners.poisoned)
  worker.on('failed', listeners.failed)
  worker.on('received', listeners.received)
  return {
    registry,
    detach: () => {
      worker.off('activated', listeners.activated)
      worker.off('expired', listeners.expired)
      worker.off('requeued', listeners.requeued)
      worker.off('dropped', listeners.dropped)
      worker.off('poisoned', listeners.poisoned)
      worker.off('failed', listeners.failed)
      worker.off('received', listeners.received)
    }
  }
}
