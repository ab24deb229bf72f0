/**
 * The OpenTelemetry SDK of one process, off by default. With an OTLP
 * endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) spans go there over OTLP/HTTP
 * (JSON), batched; the exporter also honours the standard OTEL_EXPORTER_OTLP_*
 * variables it reads itself (headers, timeout). Without one nothing is
 * registered: @opentelemetry/api stays a no-op and no trace context is
 * written into messages or rows.
 */
import { context, propagation, trace } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'

export interface TelemetryOptions {
  /** service.name of every span: codegate-api, codegate-worker. */
  serviceName: string
  /** OTLP/HTTP base URL; spans are posted to <it>/v1/traces. */
  otlpEndpoint?: string
  /** Instead of the batching OTLP exporter (tests, the local receiver). */
  spanProcessor?: SpanProcessor
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

export function startTelemetry (options: TelemetryOptions): Telemetry {
  const { otlpEndpoint } = options
  const processor = options.spanProcessor ??
    (otlpEndpoint !== undefined ? new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlpEndpoint.replace(/\/+$/, '')}/v1/traces` })) : undefined)
  if (processor === undefined) return OFF
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [processor]
  })
  // Sets the global tracer provider, the W3C trace-context propagator and AsyncLocalStorage context.
  provider.register()
  let stopped: Promise<void> | undefined
  return {
    enabled: true,
    flush: async () => { await provider.forceFlush() },
    shutdown: async () => {
      stopped ??= provider.shutdown().finally(() => {
        trace.disable()
        context.disable()
        propagation.disable()
      })
      await stopped
    }
  }
}
