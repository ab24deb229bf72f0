/**
 * One declaration, two records: each metric of a MetricSet is a prom-client
 * series (what /metrics serves) and an OpenTelemetry instrument (what an
 * exporter sends), with the same meaning. Read here from a real registry and
 * a real MeterProvider collected in memory: no exporter, no socket. The
 * processes' own metrics are tested end to end in services/api/test/metrics.test.ts.
 */
import t from 'tap'
import { MeterProvider, MetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics'
import { CALL_SECONDS_BUCKETS, createMetricsRegistry, LAG_SECONDS_BUCKETS, METRIC_PREFIX, MetricSet, zeroSeries } from '../src/metrics.js'

/** Collects when asked, and only then. */
class CollectingReader extends MetricReader {
  protected override async onForceFlush (): Promise<void> {}
  protected override async onShutdown (): Promise<void> {}
}

interface Recorded {
  set: MetricSet
  /** The Prometheus value of `name` (with its prefix and suffix) whose labels include `labels`. */
  prom: (name: string, labels?: Record<string, string | number>) => Promise<number | undefined>
  /** The OpenTelemetry metric named `name`, as an exporter would get it. */
  otel: (name: string) => Promise<MetricData | undefined>
}

function recorded (service = 'test'): Recorded {
  const reader = new CollectingReader()
  const provider = new MeterProvider({ readers: [reader] })
  t.teardown(() => provider.shutdown())
  const set = new MetricSet(service, { meter: provider.getMeter('test') })
  return {
    set,
    prom: async (name, labels = {}) => {
      for (const metric of await set.registry.getMetricsAsJSON()) {
        for (const v of metric.values) {
          const series = (v as { metricName?: string }).metricName ?? metric.name
          if (series === name && Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l)) return v.value
        }
      }
      return undefined
    },
    otel: async (name) => {
      const { resourceMetrics } = await reader.collect()
      return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name)
    }
  }
}

const points = (metric: MetricData | undefined): Array<DataPoint<unknown>> => (metric?.dataPoints ?? []) as Array<DataPoint<unknown>>
const pointWith = (metric: MetricData | undefined, attributes: Record<string, string>): DataPoint<unknown> | undefined =>
  points(metric).find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))

t.test('a counter: codegate_ and _total in Prometheus, without _total in OpenTelemetry, the service on both', async (t) => {
  const { set, prom, otel } = recorded('svc')
  const issued = set.counter({ name: 'things_done_total', help: 'Things done' })
  issued.inc()
  issued.inc(2)
  t.equal(await prom('codegate_things_done_total'), 3)
  const metric = await otel('codegate_things_done')
  t.match(metric?.descriptor, { name: 'codegate_things_done', description: 'Things done', unit: '1' })
  t.same(points(metric).map((p) => [p.attributes, p.value]), [[{ service: 'svc' }, 3]])
  t.ok((await set.registry.metrics()).includes('codegate_things_done_total{service="svc"} 3'), 'every Prometheus series carries the service')
})

t.test('a labelled counter counts per label set, in both', async (t) => {
  const { set, prom, otel } = recorded()
  const outcomes = set.counter({ name: 'outcomes_total', help: 'h', labelNames: ['outcome'] })
  outcomes.inc({ outcome: 'ok' })
  outcomes.inc({ outcome: 'ok' }, 4)
  outcomes.inc({ outcome: 'error' })
  t.equal(await prom('codegate_outcomes_total', { outcome: 'ok' }), 5)
  t.equal(await prom('codegate_outcomes_total', { outcome: 'error' }), 1)
  const metric = await otel('codegate_outcomes')
  t.equal(pointWith(metric, { outcome: 'ok', service: 'test' })?.value, 5)
  t.equal(pointWith(metric, { outcome: 'error', service: 'test' })?.value, 1)
})

t.test('zero label sets exist at 0 before the first event, so a rate() or an alert has a series to read', async (t) => {
  const { set, prom } = recorded()
  t.same(zeroSeries('cause', ['unreadable', 'exhausted']), [{ cause: 'unreadable' }, { cause: 'exhausted' }])
  set.counter({ name: 'poisoned_total', help: 'h', labelNames: ['cause'], zero: zeroSeries('cause', ['unreadable', 'exhausted']) })
  set.counter({ name: 'other_total', help: 'h', labelNames: ['cause'] })
  t.equal(await prom('codegate_poisoned_total', { cause: 'unreadable' }), 0)
  t.equal(await prom('codegate_poisoned_total', { cause: 'exhausted' }), 0)
  t.equal(await prom('codegate_other_total'), undefined, 'without zero: no series until the first event')
})

t.test('a histogram: the same buckets, count and sum in both; _seconds is unit s, _bytes By', async (t) => {
  const { set, prom, otel } = recorded()
  const calls = set.histogram({ name: 'call_duration_seconds', help: 'h', labelNames: ['result'], buckets: CALL_SECONDS_BUCKETS })
  calls.observe({ result: 'ok' }, 0.02)
  calls.observe({ result: 'ok' }, 3)
  t.equal(await prom('codegate_call_duration_seconds_count', { result: 'ok' }), 2)
  t.equal(await prom('codegate_call_duration_seconds_sum', { result: 'ok' }), 3.02)
  t.equal(await prom('codegate_call_duration_seconds_bucket', { result: 'ok', le: 0.025 }), 1)
  t.equal(await prom('codegate_call_duration_seconds_bucket', { result: 'ok', le: 2.5 }), 1)
  t.equal(await prom('codegate_call_duration_seconds_bucket', { result: 'ok', le: 5 }), 2)
  const metric = await otel('codegate_call_duration_seconds')
  t.equal(metric?.descriptor.unit, 's')
  const value = pointWith(metric, { result: 'ok' })?.value as Histogram | undefined
  t.same(value?.buckets.boundaries, CALL_SECONDS_BUCKETS, 'the declared buckets, not the SDK\'s defaults')
  t.equal(value?.count, 2)
  t.equal(value?.sum, 3.02)

  const sizes = set.histogram({ name: 'body_bytes', help: 'h', buckets: [10, 100] })
  sizes.observe(50)
  t.equal(await prom('codegate_body_bytes_count'), 1, 'a histogram without labels')
  t.equal((await otel('codegate_body_bytes'))?.descriptor.unit, 'By')
  t.same(LAG_SECONDS_BUCKETS, [...LAG_SECONDS_BUCKETS].sort((a, b) => a - b), 'bucket lists are in increasing order')
})

t.test('a gauge and an observed counter read their source when scraped or collected, never accumulate it', async (t) => {
  const { set, prom, otel } = recorded()
  let inFlight = 3
  let errors = 5
  set.gauge({ name: 'in_flight_messages', help: 'h' }, () => inFlight)
  set.observedCounter({ name: 'errors_total', help: 'h' }, () => errors)
  t.equal(await prom('codegate_in_flight_messages'), 3)
  t.equal(await prom('codegate_errors_total'), 5)
  t.equal(points(await otel('codegate_in_flight_messages'))[0]?.value, 3)
  t.equal(points(await otel('codegate_errors'))[0]?.value, 5)
  inFlight = 0
  errors = 7
  t.equal(await prom('codegate_in_flight_messages'), 0)
  t.equal(await prom('codegate_errors_total'), 7, 'the count kept elsewhere, not 5 + 7')
  t.equal(await prom('codegate_errors_total'), 7, 'a second scrape reads the same')
  t.equal(points(await otel('codegate_errors'))[0]?.value, 7)
  t.same(points(await otel('codegate_errors'))[0]?.attributes, { service: 'test' })
})

t.test('a registry of its own per MetricSet, with the process\'s own metrics under the same prefix', async (t) => {
  const a = recorded('api')
  const b = recorded('worker')
  a.set.counter({ name: 'same_name_total', help: 'h' }).inc()
  b.set.counter({ name: 'same_name_total', help: 'h' })
  t.equal(await a.prom('codegate_same_name_total'), 1)
  t.equal(await b.prom('codegate_same_name_total'), 0, 'the same name in two processes\' sets does not collide')
  const text = await createMetricsRegistry('api').metrics()
  t.match(text, /^codegate_process_cpu_user_seconds_total\{service="api"\} /m)
  t.match(text, /^codegate_nodejs_eventloop_lag_seconds\{service="api"\} /m)
  t.notMatch(text, /^(?!codegate_)[a-z_]+[{ ]/m, `every series starts with ${METRIC_PREFIX}`)
})

t.test('without a MeterProvider the OpenTelemetry side is a no-op and Prometheus still counts', async (t) => {
  const set = new MetricSet('plain')
  set.counter({ name: 'alone_total', help: 'h' }).inc()
  t.match(await set.registry.metrics(), /^codegate_alone_total\{service="plain"\} 1$/m)
})
