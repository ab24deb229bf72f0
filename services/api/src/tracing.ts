/**
 * The api's instrumentations, used only when tracing is on (telemetry.ts):
 * Fastify's request and hook spans through @fastify/otel (the old
 * @opentelemetry/instrumentation-fastify is deprecated), and fetch (undici)
 * for the third-party call. Their context is what the code issuer puts in
 * the queue envelope (shared/src/tracing.ts).
 */
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import type { FastifyPluginCallback } from 'fastify'

let undici: UndiciInstrumentation | undefined

/** Spans for fetch(): undici's diagnostics channels, no module patching (works under ESM). Idempotent. */
export function instrumentHttpClients (): () => void {
  // Enabled on construction; enable() again only after a disable.
  if (undici === undefined) undici = new UndiciInstrumentation()
  else undici.enable()
  return () => { undici?.disable() }
}

/**
 * The Fastify plugin that opens a span per request and one for its handler
 * (the getcode and sign-in spans). Not one per hook: helmet, the rate limits,
 * load shedding and the caller check each made a span of every request that
 * said little; without them a traced getcode exports about 5.6 KB of OTLP
 * JSON instead of 8 (docs/benchmarks.md, "Tracing and metrics").
 */
export function fastifyTracing (): FastifyPluginCallback {
  // registerOnInitialization false: registered as a plugin of this instance, not by patching fastify().
  return new FastifyOtelInstrumentation({ registerOnInitialization: false, instrumentHooks: false }).plugin()
}
