/**
 * The api's metrics (Prometheus at /metrics, and OpenTelemetry when an
 * exporter is set: @codegate/shared/metrics); never a label that names a
 * code, a subject or a client. Domain classes report through the narrow
 * observer interfaces below, so they work (and are tested) without a registry.
 */
import { CALL_SECONDS_BUCKETS, MetricSet, zeroSeries, type CounterMetric } from '@codegate/shared/metrics'
import type { Registry } from 'prom-client'
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

/** Why a request was answered 503 overloaded: the process under pressure, or the bound on codes being issued full. */
export type ShedReason = 'pressure' | 'outgoing'
/** The routes that shed load. */
export type ShedRoute = 'getcode' | 'signin'

export class ApiMetrics {
  readonly registry: Registry
  readonly thirdParty: ThirdPartyObserver
  readonly issuer: IssuerObserver
  readonly #signIns: CounterMetric<'outcome'>
  readonly #shed: CounterMetric<'route' | 'reason'>

  /** `keyLoaded` reads whether the third-party key is in the cache now. */
  constructor (keyLoaded: () => boolean, set: MetricSet = new MetricSet('api')) {
    this.registry = set.registry
    const issued = set.counter({ name: 'codes_issued_total', help: 'Codes handed out (their activate message was on the queue)' })
    const calls = set.histogram({
      name: 'third_party_request_duration_seconds',
      help: 'One call to the third-party number service, by outcome (ok, unauthorized, status, body, network, timeout)',
      labelNames: ['outcome'],
      buckets: CALL_SECONDS_BUCKETS
    })
    const failures = set.counter({
      name: 'third_party_failures_total',
      help: 'getcode requests that got no number, by reason (unauthorized, status, body, network, timeout, key_unavailable)',
      labelNames: ['reason']
    })
    const reloads = set.counter({
      name: 'key_reloads_total',
      help: 'Reads of the third-party key after the third party refused the cached one, by result (ok, error)',
      labelNames: ['result'],
      zero: zeroSeries('result', ['ok', 'error'])
    })
    set.gauge({ name: 'key_loaded', help: '1 when the third-party key is in the cache (getcode can work), 0 otherwise' }, () => (keyLoaded() ? 1 : 0))
    const sends = set.histogram({
      name: 'queue_send_duration_seconds',
      help: 'One activate message sent to the queue, by result (ok, error)',
      labelNames: ['result'],
      buckets: CALL_SECONDS_BUCKETS
    })
    this.#signIns = set.counter({
      name: 'signins_total',
      help: 'Sign-ins by outcome: approved, refused (unknown, used, expired or other subject), locked (too many failures), rate_limited (too many requests)',
      labelNames: ['outcome'],
      zero: zeroSeries('outcome', ['approved', 'refused', 'locked', 'rate_limited'])
    })
    this.#shed = set.counter({
      name: 'requests_shed_total',
      help: 'Requests answered 503 overloaded with Retry-After, by route (getcode, signin) and reason (pressure: event loop or heap over its limit; outgoing: the bound on codes being issued full)',
      labelNames: ['route', 'reason'],
      zero: [{ route: 'getcode', reason: 'pressure' }, { route: 'getcode', reason: 'outgoing' }, { route: 'signin', reason: 'pressure' }]
    })

    this.thirdParty = {
      call: (seconds, outcome) => { calls.observe({ outcome }, seconds) },
      failure: (reason) => { failures.inc({ reason }) },
      keyReload: (ok) => { reloads.inc({ result: ok ? 'ok' : 'error' }) }
    }
    this.issuer = {
      queueSend: (seconds, ok) => { sends.observe({ result: ok ? 'ok' : 'error' }, seconds) },
      issued: () => { issued.inc() }
    }
  }

  signIn (outcome: SignInMetricOutcome): void {
    this.#signIns.inc({ outcome })
  }

  shed (route: ShedRoute, reason: ShedReason): void {
    this.#shed.inc({ route, reason })
  }
}

/** Seconds since `start` (a performance.now() reading). */
export function secondsSince (start: number): number {
  return (performance.now() - start) / 1000
}
