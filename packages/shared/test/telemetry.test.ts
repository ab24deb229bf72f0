/**
 * Trace sampling (TRACES_SAMPLE_RATIO): decided where a trace starts, by
 * trace id; a span whose parent came in a traceparent (a code's activate)
 * follows the parent's choice. Spans are kept in memory: no exporter, no
 * process, no socket. And the metric reader's interval.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { context, metrics, trace } from '@opentelemetry/api'
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { startTelemetry } from '../src/telemetry.js'
import { contextFrom } from '../src/tracing.js'

async function spansWith (ratio: number, run: () => void): Promise<string[]> {
  const exporter = new InMemorySpanExporter()
  const telemetry = await startTelemetry({ serviceName: 'test', spanProcessor: new SimpleSpanProcessor(exporter), tracesSampleRatio: ratio })
  try {
    run()
    await telemetry.flush()
    return exporter.getFinishedSpans().map((s) => s.name)
  } finally {
    await telemetry.shutdown()
  }
}

const start = (name: string): void => { trace.getTracer('test').startSpan(name).end() }
const SAMPLED_PARENT = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }
const UNSAMPLED_PARENT = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }
const child = (carrier: { traceparent: string }): void => {
  context.with(contextFrom(carrier), () => { start('child') })
}

t.test('ratio 1 keeps every trace, ratio 0 none', async (t) => {
  t.same(await spansWith(1, () => { for (let i = 0; i < 20; i++) start('root') }), Array(20).fill('root'))
  t.same(await spansWith(0, () => { for (let i = 0; i < 20; i++) start('root') }), [])
})

t.test('a ratio keeps about that share of new traces', async (t) => {
  const kept = (await spansWith(0.25, () => { for (let i = 0; i < 2000; i++) start('root') })).length
  // Trace ids are random: 500 expected, and 400..600 is over 5 standard deviations wide.
  t.ok(kept > 400 && kept < 600, `kept ${kept} of 2000`)
})

t.test('a span under a remote parent follows the parent\'s choice, whatever the ratio', async (t) => {
  t.same(await spansWith(0, () => { child(SAMPLED_PARENT) }), ['child'], 'the parent was kept: so is the child')
  t.same(await spansWith(1, () => { child(UNSAMPLED_PARENT) }), [], 'the parent was dropped: so is the child')
})

t.test('metrics are pushed every metricIntervalMs (OTEL_METRIC_EXPORT_INTERVAL), without a flush', async (t) => {
  // A stand-in collector on loopback: it only notes that /v1/metrics was posted to.
  let posted = 0
  const server = createServer((req, res) => {
    if (req.url === '/v1/metrics') posted++
    req.resume()
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }).end('{}') })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const { port } = server.address() as AddressInfo
  // A timeout above the interval is cut to it: the SDK refuses a reader otherwise.
  const telemetry = await startTelemetry({ serviceName: 'test', otlpEndpoint: `http://127.0.0.1:${port}`, metricIntervalMs: 200, metricTimeoutMs: 30_000 })
  t.teardown(async () => { await telemetry.shutdown() })
  metrics.getMeter('test').createCounter('test_total').add(1)
  // With the 60 s default nothing would arrive within this wait; the bound is generous for a busy machine.
  const deadline = Date.now() + 20_000
  while (posted < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(posted >= 2, `two periodic exports arrived (${posted})`)
})
