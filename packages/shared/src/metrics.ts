/**
 * Metrics, declared once and recorded twice: to a prom-client registry,
 * served as Prometheus text at /metrics, and to OpenTelemetry instruments
 * of the same meaning, exported when telemetry.ts registered a
 * MeterProvider (an exporter is set); without one OpenTelemetry's meter is a
 * no-op. Names follow prom-client's conventions: an app prefix
 * (`codegate_`), base units (seconds, bytes), `_total` on counters, and
 * never a label that names a code, a subject or a client (cardinality, and
 * secrets). The OpenTelemetry instrument has the same name without the
 * `_total` (an OTLP-to-Prometheus bridge adds it back) and unit `s` for
 * `_seconds`. Each process declares its own (services/api/src/metrics.ts,
 * services/worker/src/metrics.ts).
 */
import { metrics as otel, type Meter } from '@opentelemetry/api'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

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

export interface MetricSpec<L extends string> {
  /** Without the prefix, with prom-client's suffixes: codes_issued_total, queue_send_duration_seconds. */
  name: string
  help: string
  labelNames?: readonly L[]
  /** Label sets whose series exist at 0 from the start, so a rate() or an alert has one to read. */
  zero?: ReadonlyArray<Record<L, string>>
}

export type Labels<L extends string> = Record<L, string>

/** The `zero` of a metric with one label: a series at 0 for each of its values. */
export function zeroSeries<L extends string> (label: L, values: readonly string[]): Array<Labels<L>> {
  return values.map((value) => ({ [label]: value }) as Labels<L>)
}

export interface CounterMetric<L extends string> {
  inc: (...args: [L] extends [never] ? [value?: number] : [labels: Labels<L>, value?: number]) => void
}

export interface HistogramMetric<L extends string> {
  observe: (...args: [L] extends [never] ? [value: number] : [labels: Labels<L>, value: number]) => void
}

/** One process's metrics: each declaration makes the prom-client series and the OpenTelemetry instrument. */
export class MetricSet {
  readonly registry: Registry
  readonly #meter: Meter
  readonly #service: string

  /** `meter`: defaults to the global one, so make this after telemetry started. */
  constructor (service: string, options: { registry?: Registry, meter?: Meter } = {}) {
    this.#service = service
    this.registry = options.registry ?? createMetricsRegistry(service)
    this.#meter = options.meter ?? otel.getMeter('codegate')
  }

  counter<L extends string = never> (spec: MetricSpec<L>): CounterMetric<L> {
    const prom = new Counter<L>({ name: METRIC_PREFIX + spec.name, help: spec.help, labelNames: spec.labelNames ?? [], registers: [this.registry] })
    const instrument = this.#meter.createCounter(otelName(spec.name), { description: spec.help, unit: otelUnit(spec.name) })
    for (const labels of spec.zero ?? []) prom.inc(labels, 0)
    const service = this.#service
    return {
      inc: (...args: unknown[]) => {
        const [labels, value] = typeof args[0] === 'object' ? [args[0] as Labels<L>, (args[1] as number | undefined) ?? 1] : [undefined, (args[0] as number | undefined) ?? 1]
        if (labels !== undefined) prom.inc(labels, value)
        else prom.inc(value)
        instrument.add(value, { service, ...labels })
      }
    } as CounterMetric<L>
  }

  histogram<L extends string = never> (spec: MetricSpec<L> & { buckets: number[] }): HistogramMetric<L> {
    const prom = new Histogram<L>({ name: METRIC_PREFIX + spec.name, help: spec.help, labelNames: spec.labelNames ?? [], buckets: spec.buckets, registers: [this.registry] })
    const instrument = this.#meter.createHistogram(otelName(spec.name), {
      description: spec.help,
      unit: otelUnit(spec.name),
      advice: { explicitBucketBoundaries: spec.buckets }
    })
    const service = this.#service
    return {
      observe: (...args: unknown[]) => {
        const [labels, value] = typeof args[0] === 'object' ? [args[0] as Labels<L>, args[1] as number] : [undefined, args[0] as number]
        if (labels !== undefined) prom.observe(labels, value)
        else prom.observe(value)
        instrument.record(value, { service, ...labels })
      }
    } as HistogramMetric<L>
  }

  /** A value read when scraped or exported (in-flight count, a flag). */
  gauge (spec: { name: string, help: string }, read: () => number): void {
    new Gauge({ name: METRIC_PREFIX + spec.name, help: spec.help, registers: [this.registry], collect () { this.set(read()) } })
    this.#meter.createObservableGauge(otelName(spec.name), { description: spec.help, unit: otelUnit(spec.name) })
      .addCallback((result) => { result.observe(read(), { service: this.#service }) })
  }

  /** A count kept elsewhere (a stats object), read when scraped or exported. */
  observedCounter (spec: { name: string, help: string }, read: () => number): void {
    new Counter({ name: METRIC_PREFIX + spec.name, help: spec.help, registers: [this.registry], collect () { this.reset(); this.inc(read()) } })
    this.#meter.createObservableCounter(otelName(spec.name), { description: spec.help, unit: otelUnit(spec.name) })
      .addCallback((result) => { result.observe(read(), { service: this.#service }) })
  }
}

const otelName = (name: string): string => METRIC_PREFIX + name.replace(/_total$/, '')
const otelUnit = (name: string): string => (/_seconds$/.test(name) ? 's' : /_bytes$/.test(name) ? 'By' : '1')
