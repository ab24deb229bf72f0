/**
 * Trace context across the queue. Queues have no headers, so the W3C
 * `traceparent` and `tracestate` of the span that sent a message travel in
 * its envelope (message.ts) and on the code's row (codes-table.ts). The
 * worker's activate is a child of the sending span; its expire, ten minutes
 * later, starts a trace of its own with a link back; a sign-in links to the
 * trace of the code it found. Messages of the original sample carry none and
 * start their own trace.
 *
 * Only @opentelemetry/api is used here: without an SDK (telemetry.ts, off by
 * default) every call is a no-op and no context is written anywhere.
 */
import { context, propagation, ROOT_CONTEXT, trace, type Context, type Link, type Tracer } from '@opentelemetry/api'

/** The W3C trace context of a message or row. */
export interface TraceCarrier {
  traceparent: string
  tracestate?: string
}

/** version-traceid-parentid-flags, lower-case hex (https://www.w3.org/TR/trace-context/#traceparent-header). */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/
/** The spec allows up to 32 list members; 512 characters is the most propagators must keep. */
const MAX_TRACESTATE_LENGTH = 512

export function tracer (): Tracer {
  return trace.getTracer('codegate')
}

/**
 * The carrier read from untrusted fields, or undefined when they do not
 * hold a valid one: a bad trace context is ignored (as the W3C spec says),
 * never a reason to refuse a code.
 */
export function readTraceCarrier (traceparent: unknown, tracestate: unknown): TraceCarrier | undefined {
  if (typeof traceparent !== 'string' || !TRACEPARENT.test(traceparent)) return undefined
  const state = typeof tracestate === 'string' && tracestate.length <= MAX_TRACESTATE_LENGTH && /^[\x20-\x7E]*$/.test(tracestate) && tracestate !== ''
    ? tracestate
    : undefined
  return { traceparent, ...(state !== undefined ? { tracestate: state } : {}) }
}

/** The active span's context as a carrier; undefined when nothing is traced. */
export function activeTraceCarrier (active: Context = context.active()): TraceCarrier | undefined {
  const carrier: Record<string, string> = {}
  propagation.inject(active, carrier)
  return readTraceCarrier(carrier.traceparent, carrier.tracestate)
}

/** A context whose remote parent is `carrier` (the root context without one). */
export function contextFrom (carrier: TraceCarrier | undefined): Context {
  return carrier === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, carrier)
}

/** A link to the span `carrier` names, or undefined. */
export function linkTo (carrier: TraceCarrier | undefined): Link | undefined {
  if (carrier === undefined) return undefined
  const spanContext = trace.getSpanContext(contextFrom(carrier))
  return spanContext !== undefined && trace.isSpanContextValid(spanContext) ? { context: spanContext } : undefined
}
