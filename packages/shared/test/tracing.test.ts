/**
 * Trace context across the queue: read from fields anyone who can write to
 * the queue or the table controls, so a bad value is dropped (W3C: ignore it),
 * never a reason to refuse a code and never passed on. With telemetry on,
 * spans are kept in memory: no exporter, no socket. The trace of a whole
 * code, across processes, is tested in services/api/test/tracing.test.ts.
 */
import t from 'tap'
import { context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api'
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { startTelemetry } from '../src/telemetry.js'
import { activeTraceCarrier, contextFrom, linkTo, readTraceCarrier, tracer } from '../src/tracing.js'

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c'
const SPAN_ID = 'b7ad6b7169203331'
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`

t.test('a valid traceparent is read, with its tracestate', async (t) => {
  t.same(readTraceCarrier(TRACEPARENT, undefined), { traceparent: TRACEPARENT })
  t.same(readTraceCarrier(TRACEPARENT, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'), { traceparent: TRACEPARENT, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' })
})

t.test('a traceparent that is not version-traceid-parentid-flags in lowercase hex is dropped', async (t) => {
  const bad: unknown[] = [
    TRACEPARENT.toUpperCase(),
    `${TRACEPARENT}-extra`,
    TRACEPARENT.slice(1),
    `00-${TRACE_ID}0-${SPAN_ID}-01`,
    `00-${TRACE_ID}-${SPAN_ID}-1`,
    ` ${TRACEPARENT}`,
    `${TRACEPARENT}\n`,
    `${TRACEPARENT}\r\nx-injected: 1`,
    '',
    undefined,
    null,
    42,
    { traceparent: TRACEPARENT },
    [TRACEPARENT]
  ]
  for (const value of bad) t.equal(readTraceCarrier(value, 'a=b'), undefined, JSON.stringify(value) ?? String(value))
})

t.test('a tracestate that is empty, too long or not printable ASCII is dropped, and the traceparent kept', async (t) => {
  const kept = { traceparent: TRACEPARENT }
  t.same(readTraceCarrier(TRACEPARENT, ''), kept, 'empty')
  t.same(readTraceCarrier(TRACEPARENT, `a=${'x'.repeat(511)}`), kept, '513 characters')
  t.same(readTraceCarrier(TRACEPARENT, `a=${'x'.repeat(510)}`), { ...kept, tracestate: `a=${'x'.repeat(510)}` }, '512 characters are kept')
  t.same(readTraceCarrier(TRACEPARENT, 'a=b\r\nx-injected: 1'), kept, 'a line break')
  t.same(readTraceCarrier(TRACEPARENT, 'a=b\u0000'), kept, 'a NUL')
  t.same(readTraceCarrier(TRACEPARENT, 'a=é'), kept, 'outside ASCII')
  t.same(readTraceCarrier(TRACEPARENT, 7), kept, 'not a string')
})

t.test('without a propagator (telemetry off) nothing is written or read', async (t) => {
  const traced = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED })
  t.equal(activeTraceCarrier(traced), undefined, 'no context to write into a message')
  t.equal(trace.getSpanContext(contextFrom({ traceparent: TRACEPARENT })), undefined, 'none taken from one')
  t.equal(linkTo({ traceparent: TRACEPARENT }), undefined, 'no link')
})

t.test('with telemetry on (its W3C propagator and context manager)', async (t) => {
  const exporter = new InMemorySpanExporter()
  const telemetry = await startTelemetry({ serviceName: 'test', spanProcessor: new SimpleSpanProcessor(exporter) })
  t.teardown(telemetry.shutdown)

  t.test('the active span\'s context is the carrier a message takes along', async (t) => {
    const traced = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED })
    t.same(activeTraceCarrier(traced), { traceparent: TRACEPARENT }, 'a given context')
    const { carrier, span } = tracer().startActiveSpan('send', (span) => { span.end(); return { carrier: activeTraceCarrier(), span: span.spanContext() } })
    t.same(carrier, { traceparent: `00-${span.traceId}-${span.spanId}-01` }, 'the active one by default')
    t.equal(activeTraceCarrier(ROOT_CONTEXT), undefined, 'no span, no carrier')
  })

  t.test('a carrier is the remote parent of the span that handles the message', async (t) => {
    t.match(trace.getSpanContext(contextFrom({ traceparent: TRACEPARENT })), { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED, isRemote: true })
    tracer().startSpan('activate', {}, contextFrom({ traceparent: TRACEPARENT })).end()
    t.match(exporter.getFinishedSpans().find((s) => s.name === 'activate')?.spanContext(), { traceId: TRACE_ID })
  })

  t.test('without a carrier a span starts a trace of its own, whatever is active', async (t) => {
    const traced = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED })
    t.equal(context.with(traced, () => contextFrom(undefined)), ROOT_CONTEXT)
    context.with(traced, () => { tracer().startSpan('expire', {}, contextFrom(undefined)).end() })
    const expire = exporter.getFinishedSpans().find((s) => s.name === 'expire')
    t.ok(expire !== undefined && expire.spanContext().traceId !== TRACE_ID, 'not in the active trace')
  })

  t.test('a link names the carrier\'s span; an all-zero id, valid in form only, gives none', async (t) => {
    t.match(linkTo({ traceparent: TRACEPARENT }), { context: { traceId: TRACE_ID, spanId: SPAN_ID } })
    t.equal(linkTo(undefined), undefined)
    t.equal(linkTo({ traceparent: `00-${'0'.repeat(32)}-${SPAN_ID}-01` }), undefined, 'all-zero trace id')
    t.equal(linkTo({ traceparent: `00-${TRACE_ID}-${'0'.repeat(16)}-01` }), undefined, 'all-zero span id')
  })
})
