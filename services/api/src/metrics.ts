/**
 * The api's Prometheus metrics; never a label that names a code, a subject
 * or a client. Domain classes report through the narrow observer interfaces
 * below, so they work (and are tested) without a registry.
 */
import { CALL_SECONDS_BUCKETS, METRIC_PREFIX, createMetricsRegistry } from '@codegate/shared/metrics'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { ThirdPartyFailure } from './errors.js'
import type { SignInOutcome } from './sign-in.js'

/** What the third-party client reports. */
export interface ThirdPartyObserver {
  /** One HTTP call ended after `seconds`: `ok` or why not. */
  call: (seconds: number, outcome: 'ok' | ThirdPartyFailure) => void
  /** A number could not be had (after any retry): why. */
  failure: (reason: ThirdPartyFailure | 'key_unavailable') => void
  /** The key was read again after the third party refused it (a rotation). */
  keyReload: (ok: boolean) => void
}

/** What the code issuer reports. */
export interface IssuerObserver {
  queueSend: (seconds: number, ok: boolean) => void
  issued: () => void
}

export type SignInMetricOutcome = SignInOutcome['status'] | 'rate_limited'

export class ApiMetrics {
  readonly registry: Registry
  readonly thirdParty: ThirdPartyObserver
  readonly issuer: IssuerObserver
  readonly #signIns: Counter<'outcome'>

  /** `keyLoaded` reads whether the third-party key is in the cache now. */
  constructor (keyLoaded: () => boolean, registry: Registry = createMetricsRegistry('api')) {
    this.registry = registry
    const registers = [registry]
    const name = (n: string): string => `${METRIC_PREFIX}${n}`
    const issued = new Counter({ name: name('codes_issued_total'), help: 'Codes handed out (their activate message was on the queue)', registers })
    const calls = new Histogram({
      name: name('third_party_request_duration_seconds'),
      help: 'One call to the third-party number service, by outcome (ok, unauthorized, status, body, network, timeout)',
      labelNames: ['outcome'] as const,
      buckets: CALL_SECONDS_BUCKETS,
      registers
    })
    const failures = new Counter({
      name: name('third_party_failures_total'),
      help: 'getcode requests that got no number, by reason (unauthorized, status, body, network, timeout, key_unavailable)',
      labelNames: ['reason'] as const,
      registers
    })
    const reloads = new Counter({
      name: name('key_reloads_total'),
      help: 'Reads of the third-party key after the third party refused the cached one, by result (ok, error)',
      labelNames: ['result'] as const,
      registers
    })
    new Gauge({
      name: name('key_loaded'),
      help: '1 when the third-party key is in the cache (getcode can work), 0 otherwise',
      registers,
      collect () { this.set(keyLoaded() ? 1 : 0) }
    })
    const sends = new Histogram({
      name: name('queue_send_duration_seconds'),
      help: 'One activate message sent to the queue, by result (ok, error)',
      labelNames: ['result'] as const,
      buckets: CALL_SECONDS_BUCKETS,
      registers
    })
    this.#signIns = new Counter({
      name: name('signins_total'),
      help: 'Sign-ins by outcome: approved, refused (unknown, used, expired or other subject), locked (too many failures), rate_limited (too many requests)',
      labelNames: ['outcome'] as const,
      registers
    })
    // Zero series from the start: an alert on rate() has something to read.
    for (const outcome of ['approved', 'refused', 'locked', 'rate_limited']) this.#signIns.labels(outcome).inc(0)
    for (const result of ['ok', 'error']) reloads.labels(result).inc(0)

    this.thirdParty = {
      call: (seconds, outcome) => { calls.labels(outcome).observe(seconds) },
      failure: (reason) => { failures.labels(reason).inc() },
      keyReload: (ok) => { reloads.labels(ok ? 'ok' : 'error').inc() }
    }
    this.issuer = {
      queueSend: (seconds, ok) => { sends.labels(ok ? 'ok' : 'error').observe(seconds) },
      issued: () => { issued.inc() }
    }
  }

  signIn (outcome: SignInMetricOutcome): void {
    this.#signIns.labels(outcome).inc()
  }
}

/** Seconds since `start` (a performance.now() reading). */
export function secondsSince (start: number): number {
  return (performance.now() - start) / 1000
}
