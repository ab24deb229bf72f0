/**
 * The failed sign-in limits under attack, against real Azurite: parallel
 * bursts, subject rotation, strangers, two api instances sharing the limits
 * table, and a restart. Client addresses come from X-Forwarded-For, trusted
 * from the loopback "proxy" (TRUST_PROXY), as behind Container Apps ingress.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { ApiConfig } from '../src/config.js'
import { appFor, azuriteFor, configFor, insertCode, tableFor, vaultFor, hasher, type Parts } from './fixtures/parts.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const parts: Parts = { azurite, vault, numberApi: { url: 'http://127.0.0.1:9/api/RandomNumber' } }

const limited = (overrides: Partial<ApiConfig> = {}): ApiConfig =>
  // A generous storage timeout: on a loaded machine a burst queued behind one row must not turn into 503s.
  configFor(parts, { signinMaxFailures: 5, signinSubjectMaxFailures: 3, signinLockoutSeconds: 600, trustProxy: ['127.0.0.1'], storageTimeoutMs: 15_000, ...overrides })

async function signIn (app: FastifyInstance, from: string, body: { code: string, subject?: string }): Promise<{ statusCode: number, retryAfter: string | undefined }> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/signin',
    payload: JSON.stringify(body),
    headers: { 'content-type': 'application/json', 'x-forwarded-for': from }
  })
  return { statusCode: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined }
}

const count = (statuses: number[], status: number): number => statuses.filter((s) => s === status).length
const guess = (i: number): string => `gss-${i + 1}-ABC`

t.test('20 parallel wrong guesses for one subject: only SIGNIN_SUBJECT_MAX_FAILURES are judged', async (t) => {
  const { app } = await appFor(t, limited())
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => await signIn(app, '203.0.113.10', { code: guess(i), subject: 'alice' })))
  const statuses = answers.map((a) => a.statusCode)
  t.equal(count(statuses, 401), 3, `three judged: ${statuses.join(' ')}`)
  t.equal(count(statuses, 429), 17, 'the rest refused unjudged')
  t.ok(answers.filter((a) => a.statusCode === 429).every((a) => Number(a.retryAfter) > 0), 'each 429 has a Retry-After')
})

t.test('20 parallel wrong guesses without subject from one address: only SIGNIN_MAX_FAILURES are judged', async (t) => {
  const { app } = await appFor(t, limited())
  const statuses = (await Promise.all(Array.from({ length: 20 }, async (_, i) => await signIn(app, '203.0.113.11', { code: guess(i) })))).map((a) => a.statusCode)
  t.equal(count(statuses, 401), 5, statuses.join(' '))
  t.equal(count(statuses, 429), 15)
})

t.test('rotating the subject from one address buys nothing: the address locks after SIGNIN_MAX_FAILURES', async (t) => {
  const config = limited()
  const table = await tableFor(config)
  await insertCode(table, 'any-77-SUB')
  const { app } = await appFor(t, config)
  const statuses: number[] = []
  for (let i = 0; i < 30; i++) statuses.push((await signIn(app, '203.0.113.12', { code: guess(i), subject: `victim-${i}` })).statusCode)
  t.same(statuses.slice(0, 5), [401, 401, 401, 401, 401])
  t.ok(statuses.slice(5).every((s) => s === 429), 'every later guess is refused')
  const locked = await signIn(app, '203.0.113.12', { code: 'any-77-SUB', subject: 'victim-99' })
  t.equal(locked.statusCode, 429, 'even the right code is not judged while locked')
  t.ok(Number(locked.retryAfter) > 590 && Number(locked.retryAfter) <= 600, `Retry-After counts down from the lockout (${String(locked.retryAfter)})`)
  t.equal((await table.get(hasher.hash('any-77-SUB')))?.consumedAt, undefined, 'and the code is left unused')
  t.equal((await signIn(app, '203.0.113.13', { code: 'any-77-SUB' })).statusCode, 200, 'another address is not locked')
})

t.test('IPv6 addresses of one /64 share their limit; an IPv4-mapped address is its IPv4 address', async (t) => {
  const { app } = await appFor(t, limited())
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push((await signIn(app, `2001:db8:5:6::${i + 1}`, { code: guess(i) })).statusCode)
  t.same(statuses, [401, 401, 401, 401, 401, 429])
  for (let i = 0; i < 5; i++) await signIn(app, '198.51.100.20', { code: guess(i) })
  t.equal((await signIn(app, '::ffff:198.51.100.20', { code: guess(9) })).statusCode, 429)
})

t.test('strangers cannot lock a subject out: its lock holds only for the addresses that failed it', async (t) => {
  const config = limited()
  const table = await tableFor(config)
  await insertCode(table, 'ali-42-CEE', { subject: 'alice' })
  const { app } = await appFor(t, config)
  for (let i = 0; i < 3; i++) t.equal((await signIn(app, '203.0.113.66', { code: guess(i), subject: 'alice' })).statusCode, 401)
  t.equal((await signIn(app, '203.0.113.66', { code: guess(5), subject: 'alice' })).statusCode, 429, 'the stranger is locked for alice')
  t.equal((await signIn(app, '192.0.2.1', { code: 'ali-42-CEE', subject: 'alice' })).statusCode, 200, 'alice, from her own address, signs in')
})

t.test('two api instances sharing the limits table: the limits hold across them, and after a restart', async (t) => {
  const config = limited()
  const one = (await appFor(t, config)).app
  const two = (await appFor(t, config)).app
  // A burst spread over both.
  const burst = await Promise.all(Array.from({ length: 16 }, async (_, i) => await signIn(i % 2 === 0 ? one : two, '203.0.113.30', { code: guess(i) })))
  const statuses = burst.map((a) => a.statusCode)
  t.equal(count(statuses, 401), 5, `five judged in all, not five per instance: ${statuses.join(' ')}`)
  t.equal(count(statuses, 429), 11)

  // Sequential, alternating: every failure counts once, wherever it was made.
  const sequential: number[] = []
  for (let i = 0; i < 8; i++) sequential.push((await signIn(i % 2 === 0 ? one : two, '203.0.113.31', { code: guess(i), subject: `s${i}` })).statusCode)
  t.same(sequential, [401, 401, 401, 401, 401, 429, 429, 429])

  await one.close()
  await two.close()
  const restarted = (await appFor(t, config)).app
  t.equal((await signIn(restarted, '203.0.113.31', { code: guess(20) })).statusCode, 429, 'a restart forgets no lock')
})

t.test('SIGNIN_LIMITS_STORE=memory keeps the limits in the process (one replica only)', async (t) => {
  const config = limited({ signinLimitsStore: 'memory' })
  const one = (await appFor(t, config)).app
  const two = (await appFor(t, config)).app
  for (let i = 0; i < 5; i++) await signIn(one, '203.0.113.40', { code: guess(i) })
  t.equal((await signIn(one, '203.0.113.40', { code: guess(7) })).statusCode, 429)
  t.equal((await signIn(two, '203.0.113.40', { code: guess(8) })).statusCode, 401, 'the other process knows nothing of it')
})

t.test('approved sign-ins do not use up the limit', async (t) => {
  const config = limited()
  const table = await tableFor(config)
  const codes = Array.from({ length: 12 }, (_, i) => `ok${String.fromCharCode(97 + i)}-${i + 1}-YES`)
  for (const code of codes) await insertCode(table, code)
  const { app } = await appFor(t, config)
  const statuses: number[] = []
  for (const code of codes) statuses.push((await signIn(app, '203.0.113.50', { code })).statusCode)
  t.ok(statuses.every((s) => s === 200), `twelve sign-ins in a row from one address: ${statuses.join(' ')}`)
})

t.test('lapsed rows are swept from the limits table', async (t) => {
  const clock = { now: Date.now() }
  const config = limited({ signinLockoutSeconds: 60 })
  const { app } = await appFor(t, config, { now: () => new Date(clock.now) })
  for (let i = 0; i < 3; i++) await signIn(app, `203.0.113.${60 + i}`, { code: guess(i) })
  const store = app.signInLimits.store as unknown as { sweep: () => Promise<number>, client: { listEntities: () => AsyncIterable<unknown> } }
  t.equal(await store.sweep(), 0, 'nothing has lapsed yet')
  clock.now += 61_000
  t.equal(await store.sweep(), 3, 'every row has lapsed a window after its failure')
  let left = 0
  for await (const _ of store.client.listEntities()) left++
  t.equal(left, 0)
})
