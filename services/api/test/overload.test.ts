/**
 * Load shedding: under pressure getcode and signin answer 503 overloaded with
 * Retry-After before doing any work, and past the bound on codes being issued
 * the overflow is refused at once. Pressure is forced deterministically (a
 * heap limit of one byte), never by loading the machine.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { createQueues } from '@codegate/shared/clients'
import type { ApiConfig } from '../src/config.js'
import { requestDevToken } from '@codegate/dev-vault'
import { sample } from './fixtures/prometheus.js'
import { appFor, azuriteFor, configFor, drainQueue, fakeThirdParty, insertCode, json, numberApiFor, tableFor, vaultFor, hasher, type Parts } from './fixtures/parts.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }

const OVERLOADED = { error: 'overloaded', message: 'The service is overloaded; try again in 7 seconds.' }

/** Limits that are over at the first sample: any heap holds more than a few bytes. */
function underPressure (overrides: Partial<ApiConfig> = {}): ApiConfig {
  const config = configFor(parts, overrides)
  return { ...config, overload: { ...config.overload, maxHeapUsedPercent: 1e-9, sampleIntervalMs: 10, retryAfterSeconds: 7 } }
}

/** Resolves once the plugin has taken its first sample (a few ms; the bound is only against a hang). */
async function pressureSeen (app: FastifyInstance): Promise<void> {
  for (let i = 0; i < 500 && !app.isUnderPressure(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  if (!app.isUnderPressure()) throw new Error('no pressure seen')
}

/** The shed counter's value for a route and reason, as /metrics shows it. */
async function shedCount (app: FastifyInstance, route: string, reason: string): Promise<number | undefined> {
  return sample((await app.inject('/metrics')).body, 'codegate_requests_shed_total', { route, reason, service: 'api' })
}

/** Messages on the queue, hidden ones included (receiving would not see those). */
async function storedMessages (config: ApiConfig): Promise<number> {
  const { queue } = createQueues(config)
  await queue.createIfNotExists()
  return (await queue.getProperties()).approximateMessagesCount ?? Number.NaN
}

t.test('under pressure getcode answers 503 overloaded with Retry-After, calls no one and queues nothing', async (t) => {
  const upstream = await fakeThirdParty(t, (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"value":5}') })
  const config = underPressure({ thirdPartyEndpoint: upstream.url })
  const { app } = await appFor(t, config)
  await pressureSeen(app)

  const answers = await Promise.all(Array.from({ length: 5 }, async () => await app.inject('/api/v1/getcode?subject=alice')))

  for (const res of answers) {
    t.equal(res.statusCode, 503)
    t.equal(res.headers['retry-after'], '7')
    t.same(res.json(), OVERLOADED)
  }
  t.equal(upstream.requests(), 0, 'the third party was not called')
  t.equal(await shedCount(app, 'getcode', 'pressure'), 5, 'each shown in the shed counter')
  t.equal(await shedCount(app, 'getcode', 'outgoing'), 0)
  t.equal(await storedMessages(config), 0, 'nothing on the queue, hidden or not')
  t.same((await createQueues(config).queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems, [])
})

t.test('under pressure signin answers 503 overloaded and leaves the code unused', async (t) => {
  const config = underPressure()
  const table = await tableFor(config)
  await insertCode(table, 'prs-12-ABC')
  const { app } = await appFor(t, config)
  await pressureSeen(app)

  const res = await app.inject({ method: 'POST', url: '/api/v1/signin', ...json({ code: 'prs-12-ABC' }) })

  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '7')
  t.same(res.json(), OVERLOADED)
  t.equal(await shedCount(app, 'signin', 'pressure'), 1, 'shown in the shed counter')
  t.equal((await table.get(hasher.hash('prs-12-ABC')))?.consumedAt, undefined, 'the code is still unused')
})

t.test('under pressure /healthz stays 200 and /readyz answers 503 naming the pressure', async (t) => {
  const { app } = await appFor(t, underPressure())
  await pressureSeen(app)

  const health = await app.inject('/healthz')
  t.equal(health.statusCode, 200)

  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 503)
  const body = ready.json()
  t.equal(body.status, 'not_ready')
  t.equal(body.checks.pressure.ok, false)
  t.match(body.checks.pressure.reason, /^overloaded: heap used [\d.]+ MB, limit 0 MB \(1e-9 % of [\d.]+ MB\)$/)
  t.same([body.checks.queue.ok, body.checks.table.ok, body.checks.vault.ok], [true, true, true], 'only the pressure fails')
})

t.test('without pressure /readyz reports the pressure check as passed', async (t) => {
  const { app } = await appFor(t, configFor(parts))
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 200)
  t.same(ready.json().checks.pressure, { ok: true })
})

t.test('the start and the end of shedding are logged once each', async (t) => {
  const { app, logs } = await appFor(t, underPressure())
  await pressureSeen(app)
  await new Promise((resolve) => setTimeout(resolve, 50))
  const started = logs.filter((l) => l.includes('"event":"overload.started"'))
  t.equal(started.length, 1, 'one line while the pressure lasts')
  t.match(started[0], /"reason":"heap used/)
})

t.test('past OUTGOING_MAX_IN_FLIGHT + OUTGOING_MAX_WAITING the overflow answers 503 at once; the rest get codes', async (t) => {
  // A third party that answers only when told: the calls in flight stay in flight.
  const held: (() => void)[] = []
  const upstream = await fakeThirdParty(t, (_req, res) => {
    held.push(() => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"value":9}') })
  })
  const base = configFor(parts, { thirdPartyEndpoint: upstream.url, thirdPartyTimeoutMs: 60_000 })
  const config: ApiConfig = { ...base, overload: { ...base.overload, maxInFlight: 2, maxWaiting: 1, retryAfterSeconds: 7 } }
  const { app } = await appFor(t, config)

  const settled: number[] = []
  const requests = Array.from({ length: 4 }, async (_, i) => {
    const res = await app.inject('/api/v1/getcode')
    settled.push(i)
    return res
  })
  // Two calls reach the third party; one request waits for a slot; the fourth has no place.
  while (upstream.requests() < 2 || settled.length < 1) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(upstream.requests(), 2, 'two calls in flight, no more')
  t.equal(settled.length, 1, 'one answered while the others are held')
  const refused = await requests[settled[0]!]!
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '7')
  t.same(refused.json(), OVERLOADED)
  t.equal(app.outgoing.inFlight, 2)
  t.equal(app.outgoing.waiting, 1)
  t.equal(await shedCount(app, 'getcode', 'outgoing'), 1, 'the refusal is counted')

  // Let every call answer, the waiter's too.
  while (settled.length < 4) {
    held.splice(0).forEach((answer) => { answer() })
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const answers = await Promise.all(requests)
  const codes = answers.filter((r) => r.statusCode === 200).map((r) => r.json().code as string)
  t.equal(codes.length, 3, 'the other three got codes')
  t.equal(upstream.requests(), 3, 'the refused request never called the third party')
  t.same((await drainQueue(config)).map((m) => m.codeHash).sort(), codes.map((c) => hasher.hash(c)).sort(), 'exactly the codes handed out are queued')
  t.equal(app.outgoing.inFlight, 0)
})

t.test('while the bound is full getcode is refused before the caller\'s token is looked at', async (t) => {
  const held: (() => void)[] = []
  const upstream = await fakeThirdParty(t, (_req, res) => {
    held.push(() => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"value":9}') })
  })
  const audience = 'api://codegate-overload-test'
  const base = configFor(parts, {
    thirdPartyEndpoint: upstream.url,
    thirdPartyTimeoutMs: 60_000,
    callerAuth: { mode: 'entra', issuer: vault.issuer.issuer, audiences: [audience], issueRole: 'Codes.Issue', verifyRole: 'Codes.Verify', clockSkewSeconds: 60, caFile: vault.certFile }
  })
  const config: ApiConfig = { ...base, overload: { ...base.overload, maxInFlight: 1, maxWaiting: 0, retryAfterSeconds: 7 } }
  const { app } = await appFor(t, config)
  const token = (await requestDevToken({ tokenEndpoint: vault.issuer.tokenEndpoint, ca: vault.caPem, audience, roles: ['Codes.Issue'] })).token
  const authorized = { authorization: `Bearer ${token}` }

  t.equal((await app.inject('/api/v1/getcode')).statusCode, 401, 'with room, a request without a token is refused as unauthenticated')
  const first = app.inject({ url: '/api/v1/getcode', headers: authorized })
  while (upstream.requests() < 1) await new Promise((resolve) => setTimeout(resolve, 5))
  t.ok(app.outgoing.full, 'one code being issued fills a bound of one with no waiting line')

  const shed = await app.inject('/api/v1/getcode')
  t.equal(shed.statusCode, 503, 'full: refused before the token check, so no 401')
  t.equal(shed.headers['retry-after'], '7')
  t.same(shed.json(), OVERLOADED)
  t.equal(upstream.requests(), 1, 'the refused request called no one')
  t.equal(await shedCount(app, 'getcode', 'outgoing'), 1, 'the refusal is counted')

  held.splice(0).forEach((answer) => { answer() })
  t.equal((await first).statusCode, 200, 'the request in flight gets its code')
  t.notOk(app.outgoing.full)
  t.equal((await app.inject('/api/v1/getcode')).statusCode, 401, 'with room again, the token is checked as before')
  t.equal((await drainQueue(config)).length, 1, 'only the code handed out is queued')
})
