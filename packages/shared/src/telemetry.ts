/**
 * The OpenTelemetry SDK of one process, off by default. Spans, and the
 * metrics of @codegate/shared/metrics (every OTEL_METRIC_EXPORT_INTERVAL, 60 s
 * by default, and at flush), go to every
 * exporter that is configured, each batched:
 * - OTLP/HTTP (JSON) with an endpoint (OTEL_EXPORTER_OTLP_ENDPOINT); the
 *   exporter also honours the standard OTEL_EXPORTER_OTLP_* variables it
 *   reads itself (headers, timeout);
 * - Azure Monitor (Application Insights) with a connection string
 *   (APPLICATIONINSIGHTS_CONNECTION_STRING), through
 *   @azure/monitor-opentelemetry-exporter, imported only then.
 * Both set: each span goes to both. Neither: nothing is registered,
 * @opentelemetry/api stays a no-op and no trace context is written into
 * messages or rows.
 */
import { createRequire } from 'node:module'
import { context, metrics, propagation, trace } from '@opentelemetry/api'
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics'
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'

export interface TelemetryOptions {
  /** service.name of every span (Application Insights' cloud role name): codegate-api, codegate-worker. */
  serviceName: string
  /** OTLP/HTTP base URL; spans are posted to <it>/v1/traces. */
  otlpEndpoint?: string
  /** Application Insights connection string; spans are posted to its IngestionEndpoint. */
  azureMonitorConnectionString?: string
  /**
   * PEM certificate to trust for the IngestionEndpoint: a local stand-in's
   * (tests). The exporter turns an http:// endpoint into https://, so a
   * stand-in has to speak TLS. Unset in Azure.
   */
  azureMonitorCa?: string
  /** In addition to the exporters above (tests). */
  spanProcessor?: SpanProcessor
  /** How often metrics are exported (OTEL_METRIC_EXPORT_INTERVAL); default 60 s. */
  metricIntervalMs?: number
  /** Longest metric export (OTEL_METRIC_EXPORT_TIMEOUT); default 30 s, and never more than the interval (the SDK refuses that). */
  metricTimeoutMs?: number
  /**
   * Share of traces kept (0..1, default 1), chosen by trace id where a trace
   * starts; a span whose parent came with a traceparent (a code's activate,
   * a caller's request) follows the parent's choice.
   */
  tracesSampleRatio?: number
}

export interface Telemetry {
  /** False when no exporter is configured: nothing was registered. */
  readonly enabled: boolean
  /** Sends what is buffered. */
  flush: () => Promise<void>
  /** Flushes and unregisters. Idempotent. */
  shutdown: () => Promise<void>
}

const OFF: Telemetry = { enabled: false, flush: async () => {}, shutdown: async () => {} }

export async function startTelemetry (options: TelemetryOptions): Promise<Telemetry> {
  const { otlpEndpoint, azureMonitorConnectionString } = options
  const processors: SpanProcessor[] = []
  const metricExporters: PushMetricExporter[] = []
  if (options.spanProcessor !== undefined) processors.push(options.spanProcessor)
  if (otlpEndpoint !== undefined) {
    const base = otlpEndpoint.replace(/\/+$/, '')
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` })))
    metricExporters.push(new OTLPMetricExporter({ url: `${base}/v1/metrics` }))
  }
  if (azureMonitorConnectionString !== undefined) {
    const azure = await azureMonitorExporters(azureMonitorConnectionString, options.azureMonitorCa)
    processors.push(azure.spans)
    metricExporters.push(azure.metrics)
  }
  if (processors.length === 0) return OFF
  const resource = resourceFromAttributes({ 'service.name': options.serviceName })
  const sampler = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.tracesSampleRatio ?? 1) })
  const provider = new NodeTracerProvider({ resource, sampler, spanProcessors: processors })
  // Sets the global tracer provider, the W3C trace-context propagator and AsyncLocalStorage context.
  provider.register()
  const uninstrument = await instrumentAzureSdk()
  const interval = options.metricIntervalMs ?? 60_000
  const meters = new MeterProvider({
    resource,
    readers: metricExporters.map((exporter) => new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: interval, exportTimeoutMillis: Math.min(options.metricTimeoutMs ?? 30_000, interval) }))
  })
  // Before the MetricSets are made: OpenTelemetry's global meter has no proxy, a meter taken earlier stays a no-op.
  metrics.setGlobalMeterProvider(meters)
  let stopped: Promise<void> | undefined
  return {
    enabled: true,
    flush: async () => { await Promise.all([provider.forceFlush(), meters.forceFlush()]) },
    shutdown: async () => {
      stopped ??= Promise.allSettled([provider.shutdown(), meters.shutdown()]).then(() => {
        uninstrument()
        trace.disable()
        context.disable()
        propagation.disable()
        metrics.disable()
      })
      await stopped
    }
  }
}

/**
 * The Azure Monitor exporters, batched like the OTLP ones. Their module
 * (and the Azure core pipeline under it) is loaded only here, so a process
 * that does not send to Application Insights does not pay for it at start.
 */
async function azureMonitorExporters (connectionString: string, ca: string | undefined): Promise<{ spans: SpanProcessor, metrics: PushMetricExporter }> {
  const { AzureMonitorMetricExporter, AzureMonitorTraceExporter } = await import('@azure/monitor-opentelemetry-exporter')
  const options = { connectionString, ...(ca !== undefined ? { tlsOptions: { ca } } : {}) }
  return {
    spans: new BatchSpanProcessor(new AzureMonitorTraceExporter(options)),
    metrics: new AzureMonitorMetricExporter(options)
  }
}

/**
 * Spans for the Azure SDK's own calls (a queue send, a table or Key Vault
 * operation, and its HTTP request), as children of the span that made them:
 * @azure/opentelemetry-instrumentation-azure-sdk gives @azure/core-tracing
 * an OpenTelemetry instrumenter when it sees core-tracing being required.
 * This process loads the SDK as ESM, which that hook does not see, so
 * core-tracing's CommonJS build is required here once: both builds share
 * one instrumenter state (tshy's module-local state), so the ESM clients
 * use it too.
 */
async function instrumentAzureSdk (): Promise<() => void> {
  const [{ createAzureSdkInstrumentation }, { registerInstrumentations }] = await Promise.all([
    import('@azure/opentelemetry-instrumentation-azure-sdk'),
    import('@opentelemetry/instrumentation')
  ])
  const unregister = registerInstrumentations({ instrumentations: [createAzureSdkInstrumentation()] })
  createRequire(import.meta.url)('@azure/core-tracing')
  return unregister
}
