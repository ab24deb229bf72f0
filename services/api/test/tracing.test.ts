/**
 * One trace per code across the queue: the api in process with tracing on,
 * the worker as a real process (dist/main.js, so build first), both
 * exporting OTLP/HTTP to a local receiver; Azurite, dev-vault and
 * number-api real. getcode → activate → sign-in → expire. Then the same
 * getcode exported by the real Azure Monitor exporter to a local stand-in
 * of Application Insights' ingestion endpoint.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freePort, startOtlpReceiver, traceTree, type ReceivedSpan } from '@codegate/stack'
import { startTelemetry } from '@codegate/shared/telemetry'
import { baseQueueName } from '@codegate/shared/config'
import { createQueues } from '@codegate/shared/clients'
import { encodeSampleMessage } from '@codegate/shared/message'
import { instrumentHttpClients } from '../src/tracing.js'
import { ingestionEndpointFor, type Envelope } from './fixtures/ingestion.js'
import { sample as prometheus } from './fixtures/prometheus.js'
import { appFor, azuriteFor, configFor, KEY, numberApiFor, vaultFor, WHOLE_CODE, type Parts } from './fixtures/parts.js'

const WORKER_MAIN = fileURLToPath(new URL('../../worker/dist/main.js', import.meta.url))

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }

/** OTLP span kinds. */
const SERVER = 2
const PRODUCER = 4
const CONSUMER = 5

t.test('a code\'s getcode, activate, sign-in and expire share one trace, or link to it, no span names the code, and the metrics go along', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(receiver.close)
  const telemetry = await startTelemetry({ serviceName: 'codegate-api', otlpEndpoint: receiver.url })
  t.teardown(telemetry.shutdown)
  t.teardown(instrumentHttpClients())

  // A 5 s code: it expires while the test waits, so the expire span comes too.
  const config = configFor(parts, { codeTtlSeconds: 5, otlpEndpoint: receiver.url })
  const healthPort = await freePort()
  const { app } = await appFor(t, config, { tracing: true })
  const api = await app.listen({ host: '127.0.0.1', port: 0 })
  const worker = spawn(process.execPath, [WORKER_MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      STORAGE_CONNECTION_STRING: azurite.connectionString,
      STORAGE_QUEUE_NAME: baseQueueName(config.auth),
      CODES_TABLE_NAME: config.tableName,
      CODE_TTL_SECONDS: '5',
      // The code hash key, to hash the sample's message (which carries its code in clear).
      KEY_VAULT_URL: parts.vault.url,
      KEY_VAULT_CA_FILE: parts.vault.certFile,
      AZURE_CREDENTIAL: 'dev',
      CODE_HASH_SECRET_NAME: config.codeHash.secretName,
      WORKER_MAX_BACKOFF_MS: '100',
      WORKER_HEALTH_PORT: String(healthPort),
      LOG_LEVEL: 'silent',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url
    },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const exited = once(worker, 'exit')
  t.teardown(() => { if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL') })

  const workerUrl = `http://127.0.0.1:${healthPort}`
  const until = async (what: string, check: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 30_000
    while (!await check().catch(() => false)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  // The code's life is short: issue it only once the worker polls.
  await until('the worker to poll', async () => (await fetch(`${workerUrl}/readyz`)).status === 200)

  const res = await fetch(`${api}/api/v1/getcode`)
  t.equal(res.status, 200)
  const { code } = await res.json() as { code: string }
  // A message as the original sample wrote it: no trace context, so a trace of its own.
  await createQueues(config).queue.sendMessage(encodeSampleMessage({ code: 'abc-12-xyz', issuedAt: new Date() }, 'json', 'base64'))

  // Sign in as soon as the worker has activated the code.
  const deadline = Date.now() + 20_000
  let status = 0
  while (status !== 200 && Date.now() < deadline) {
    status = (await fetch(`${api}/api/v1/signin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) })).status
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(status, 200, 'signed in')

  // The expire comes after the code's 5 s (its /metrics counts it); stopping the worker flushes its spans.
  let workerText = ''
  await until('the expire', async () => /codegate_expiries_total\{result="(deleted|absent)"[^}]*\} [1-9]/.test(workerText = await (await fetch(`${workerUrl}/metrics`)).text()))
  worker.kill('SIGTERM')
  await exited
  await telemetry.flush()

  // The same numbers as OpenTelemetry metrics (the worker exported its last on SIGTERM, the api at flush).
  const apiText = await (await fetch(`${api}/metrics`)).text()
  const otel = (service: string, name: string, attributes: Record<string, string> = {}): number | undefined => receiver.metrics
    .filter((p) => p.service === service && p.name === name && Object.entries(attributes).every(([k, v]) => p.attributes[k] === v)).at(-1)?.value
  t.equal(prometheus(apiText, 'codegate_codes_issued_total'), 1, '/metrics: one code issued')
  t.equal(otel('codegate-api', 'codegate_codes_issued'), 1, 'OpenTelemetry: the same')
  t.equal(otel('codegate-api', 'codegate_signins', { outcome: 'approved' }), prometheus(apiText, 'codegate_signins_total', { outcome: 'approved' }), 'sign-ins approved, the same in both')
  t.equal(prometheus(workerText, 'codegate_worker_messages_total', { outcome: 'activated' }), 2, '/metrics: the code and the sample\'s message activated')
  t.equal(otel('codegate-worker', 'codegate_worker_messages', { outcome: 'activated' }), 2, 'OpenTelemetry, from the worker process: the same')

  const spans = receiver.spans
  const named = (name: string): ReceivedSpan[] => spans.filter((s) => s.name === name)
  // @fastify/otel: a server span per request, with the route's handler span inside it.
  const requestsOf = (handler: string): ReceivedSpan[] => {
    const parents = new Set(named(handler).map((h) => h.parentSpanId))
    return spans.filter((s) => s.kind === SERVER && parents.has(s.spanId))
  }
  const getcode = requestsOf('handler - getcode')[0]
  // The sign-ins before the activation found no row; the one that did links (its handler span) to the code's trace.
  const signin = named('handler - signin').find((s) => s.links.length > 0)
  const enqueue = named('codegate.enqueue')[0]
  const activates = named('codegate.activate')
  // Two expires: the code's, linked to its trace, and the sample message's, which has nothing to link to.
  const expire = named('codegate.expire').find((s) => s.links.length > 0)
  if (getcode === undefined || signin === undefined || enqueue === undefined || expire === undefined) {
    const seen = [...new Set(spans.map((s) => `${s.service} ${s.name} ${s.kind} links=${s.links.length}`))]
    t.fail(`missing spans (getcode ${String(getcode !== undefined)}, signin ${String(signin !== undefined)}, enqueue ${String(enqueue !== undefined)}, expire ${String(expire !== undefined)}); got ${JSON.stringify(seen)}`)
    return
  }
  t.comment(`the code's trace:\n${traceTree(spans.filter((s) => !(s.kind === 3 && s.name !== 'GET' && s.name !== 'POST') && !(s.name === 'GET' && s.traceId !== getcode.traceId)), getcode.traceId)}`)
  const activate = activates.find((s) => s.traceId === getcode.traceId)
  t.ok(activate, 'the activate is in the getcode trace')
  t.equal(enqueue.traceId, getcode.traceId)
  t.equal(enqueue.kind, PRODUCER)
  t.equal(activate?.kind, CONSUMER)
  t.equal(activate?.service, 'codegate-worker', 'across the process boundary')
  t.equal(activate?.parentSpanId, enqueue.spanId, 'the activate is the child of the send')
  t.ok(spans.some((s) => s.traceId === getcode.traceId && s.parentSpanId === enqueue.spanId) && enqueue.parentSpanId !== undefined, 'the send is inside the request')
  t.ok(spans.some((s) => s.traceId === getcode.traceId && s.name.includes('GET') && s.kind === 3), 'the third-party fetch is in the trace')
  t.same(spans.filter((s) => s.service === 'codegate-api' && /^(onRequest|preHandler|preValidation|onSend|onResponse) - /.test(s.name)).map((s) => s.name), [],
    'no span per Fastify hook (helmet, limits, caller check): the request and its handler only')
  // The Azure SDK's own spans (@azure/opentelemetry-instrumentation-azure-sdk), children of ours, in both processes.
  t.ok(spans.some((s) => s.name === 'QueueClient-sendMessage' && s.parentSpanId === enqueue.spanId && s.service === 'codegate-api'), 'the queue send is a child of codegate.enqueue')
  t.ok(spans.some((s) => s.name === 'TableClient.createEntity' && s.parentSpanId === activate?.spanId && s.service === 'codegate-worker'), 'the row insert is a child of codegate.activate')

  t.not(expire.traceId, getcode.traceId, 'the expire, minutes later, has a trace of its own')
  t.match(expire.links, [{ traceId: getcode.traceId }], 'linked to the code\'s trace')
  t.not(signin.traceId, getcode.traceId)
  t.ok(signin.links.some((l) => l.traceId === getcode.traceId), 'the sign-in links to the code\'s trace')

  const legacy = activates.find((s) => s.traceId !== getcode.traceId)
  t.ok(legacy !== undefined && legacy.parentSpanId === undefined, 'a message without trace context starts a trace')

  const everything = JSON.stringify(spans.map((s) => ({ ...s, startNs: 0, endNs: 0 })))
  t.notMatch(everything, WHOLE_CODE, 'no code in any span')
  t.notOk(everything.includes(code.slice(0, 3) + '-'), 'not even its letters with the dash')
  t.notOk(everything.includes(KEY), 'no key in any span')
})

t.test('with an Application Insights connection string the getcode trace goes to its ingestion endpoint, naming no code or key', async (t) => {
  const ingestion = await ingestionEndpointFor(t)
  const connectionString = `InstrumentationKey=00000000-0000-4000-8000-0000000000a1;IngestionEndpoint=${ingestion.url}`
  // Statsbeat, the exporter's own usage reports, would go to Microsoft's endpoints (and probe Azure's instance metadata): off.
  process.env.APPLICATION_INSIGHTS_NO_STATSBEAT = 'true'
  const telemetry = await startTelemetry({ serviceName: 'codegate-api', azureMonitorConnectionString: connectionString, azureMonitorCa: ingestion.ca })
  t.teardown(telemetry.shutdown)
  const config = configFor(parts, { azureMonitorConnectionString: connectionString })
  const { app } = await appFor(t, config, { tracing: true })
  const api = await app.listen({ host: '127.0.0.1', port: 0 })

  const res = await fetch(`${api}/api/v1/getcode`)
  t.equal(res.status, 200)
  const { code } = await res.json() as { code: string }
  await telemetry.flush()

  const items = ingestion.envelopes
  const of = (baseType: string, name: RegExp): Envelope | undefined => items.find((e) => e.data?.baseType === baseType && name.test(e.data.baseData?.name ?? ''))
  const request = of('RequestData', /getcode/)
  const enqueue = of('RemoteDependencyData', /^codegate\.enqueue$/)
  if (request === undefined || enqueue === undefined) {
    t.fail(`no getcode request or enqueue dependency; got ${JSON.stringify(items.map((e) => `${e.data?.baseType ?? '?'} ${e.data?.baseData?.name ?? '?'}`))}`)
    return
  }
  t.ok(ingestion.paths.length > 0 && ingestion.paths.every((p) => p.startsWith('/v2.1/track')), 'posted to <IngestionEndpoint>/v2.1/track')
  t.equal(request.tags?.['ai.cloud.role'], 'codegate-api', 'the service is the cloud role')
  t.equal(enqueue.tags?.['ai.operation.id'], request.tags?.['ai.operation.id'], 'the send is in the request\'s operation (trace)')
  t.equal(enqueue.tags?.['ai.operation.parentId'] !== undefined, true, 'and has a parent')
  const everything = JSON.stringify(items)
  t.notMatch(everything, WHOLE_CODE, 'no code in any item')
  t.notOk(everything.includes(code.slice(0, 3) + '-'), 'not even its letters with the dash')
  t.notOk(everything.includes(KEY), 'no key in any item')
})
