import t from 'tap'
import type { InjectOptions } from 'fastify'
import { connectionStringFor, startHoldingProxy } from '@codegate/stack'
import { appFor, azuriteFor, configFor, insertCode, json, tableFor, vaultFor, hasher, type Parts } from './fixtures/parts.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
// Sign-in never calls the third party.
const parts: Parts = { azurite, vault, numberApi: { url: 'http://127.0.0.1:9/api/RandomNumber' } }

const signin = (body: unknown): { method: 'POST', url: string, payload: string, headers: Record<string, string> } =>
  ({ method: 'POST', url: '/api/v1/signin', ...json(body) })

t.test('a live code signs in once; the second time it is refused', async (t) => {
  const config = configFor(parts)
  const table = await tableFor(config)
  await insertCode(table, 'abc-123-DEF')
  const { app } = await appFor(t, config)

  const first = await app.inject(signin({ code: 'abc-123-DEF' }))
  t.equal(first.statusCode, 200)
  t.same(first.json(), { status: 'approved' })
  t.equal(first.headers['cache-control'], 'no-store')

  const second = await app.inject(signin({ code: 'abc-123-DEF' }))
  t.equal(second.statusCode, 401)
  t.same(second.json(), { error: 'invalid_code', message: 'The code is not valid. Get a new one and try again.' })
  t.type((await table.get(hasher.hash('abc-123-DEF')))?.consumedAt, Date, 'the row is marked consumed')
})

t.test('20 parallel sign-ins with one code: exactly one is approved, the others lose the ETag race', async (t) => {
  // The table behind a proxy that answers no read before all 20 have arrived: every
  // sign-in holds the same ETag, so each refusal has to come from the conditional write.
  const n = 20
  let reads = 0
  let allRead: () => void = () => {}
  const barrier = new Promise<void>((resolve) => { allRead = resolve })
  const proxy = await startHoldingProxy(azurite.tablePort, async ({ method, url }) => {
    if (method !== 'GET' || !url.includes(hasher.hash('par-77-ALL'))) return
    if (++reads === n) allRead()
    await barrier
  })
  t.teardown(() => proxy.close())
  // One address: its limit writes queue up in the process, so give a loaded machine time.
  const config = configFor(parts, { storageTimeoutMs: 15_000 })
  const table = await tableFor(config)
  await insertCode(table, 'par-77-ALL', { subject: 'carol' })
  const queueName = config.auth.kind === 'connection-string' ? config.auth.queueName : 'unused'
  const { app, logs } = await appFor(t, { ...config, auth: { kind: 'connection-string', connectionString: connectionStringFor('127.0.0.1', azurite.queuePort, proxy.port), queueName } })

  const answers = await Promise.all(Array.from({ length: n }, async () => await app.inject(signin({ code: 'par-77-ALL', subject: 'carol' }))))

  const statuses = answers.map((r) => r.statusCode).sort()
  t.equal(statuses.filter((s) => s === 200).length, 1, 'one approval')
  t.equal(statuses.filter((s) => s === 401).length, n - 1, 'every other one refused')
  const reasons = logs.map((line) => JSON.parse(line) as { event?: string, reason?: string }).filter((l) => l.event === 'signin.refused').map((l) => l.reason)
  t.same(reasons, Array.from({ length: n - 1 }, () => 'race'), 'each refusal was a lost race (the 412 branch ran)')
})

t.test('unknown, expired and other-subject codes get the same 401', async (t) => {
  const config = configFor(parts)
  const table = await tableFor(config)
  const now = new Date()
  await insertCode(table, 'old-5-CDE', { issuedAt: new Date(now.getTime() - 700_000), expiresAt: new Date(now.getTime() - 100_000) })
  await insertCode(table, 'bob-6-XYZ', { subject: 'bob' })
  const { app } = await appFor(t, config)

  const answers = [
    await app.inject(signin({ code: 'unk-1-NOW' })),
    await app.inject(signin({ code: 'old-5-CDE' })),
    await app.inject(signin({ code: 'bob-6-XYZ', subject: 'mallory' })),
    await app.inject(signin({ code: 'bob-6-XYZ' }))
  ]
  for (const res of answers) {
    t.equal(res.statusCode, 401)
    t.same(res.json(), answers[0]?.json(), 'the answer does not say why')
  }

  const right = await app.inject(signin({ code: 'bob-6-XYZ', subject: 'bob' }))
  t.equal(right.statusCode, 200, 'the code is still good for its own subject')
})

t.test('a code expires by the injected clock', async (t) => {
  const config = configFor(parts)
  const table = await tableFor(config)
  const issuedAt = new Date()
  await insertCode(table, 'clk-9-TIM', { issuedAt, expiresAt: new Date(issuedAt.getTime() + 60_000) })
  let now = new Date(issuedAt.getTime() + 60_000)
  const { app } = await appFor(t, config, { now: () => now })
  t.equal((await app.inject(signin({ code: 'clk-9-TIM' }))).statusCode, 401, 'at expiresAt the code is dead')
  now = new Date(issuedAt.getTime() + 59_999)
  t.equal((await app.inject(signin({ code: 'clk-9-TIM' }))).statusCode, 200, 'a millisecond before, it is alive')
})

t.test('after SIGNIN_SUBJECT_MAX_FAILURES failures a subject is locked for that address, even for its right code, until the lockout ends', async (t) => {
  const config = configFor(parts, { signinMaxFailures: 10, signinSubjectMaxFailures: 3, signinLockoutSeconds: 120 })
  const table = await tableFor(config)
  const start = Date.now()
  await insertCode(table, 'lck-1-ALI', { subject: 'alice', expiresAt: new Date(start + 3_600_000) })
  let now = new Date(start)
  const { app } = await appFor(t, config, { now: () => now })

  for (let i = 0; i < 3; i++) {
    t.equal((await app.inject(signin({ code: `bad-${i + 1}-GES`, subject: 'alice' }))).statusCode, 401)
  }
  const locked = await app.inject(signin({ code: 'lck-1-ALI', subject: 'alice' }))
  t.equal(locked.statusCode, 429)
  t.equal(locked.json().error, 'locked')
  t.equal(locked.headers['retry-after'], '120')
  t.equal((await table.get(hasher.hash('lck-1-ALI')))?.consumedAt, undefined, 'a locked sign-in does not touch the code')

  t.equal((await app.inject(signin({ code: 'bad-9-BOB', subject: 'bob' }))).statusCode, 401, 'other subjects are not locked')

  now = new Date(start + 60_000)
  t.equal((await app.inject(signin({ code: 'lck-1-ALI', subject: 'alice' }))).headers['retry-after'], '60', 'Retry-After counts down')
  now = new Date(start + 120_000)
  t.equal((await app.inject(signin({ code: 'lck-1-ALI', subject: 'alice' }))).statusCode, 200, 'the lockout ends')
})

t.test('failures are counted per client address', async (t) => {
  const config = configFor(parts, { signinMaxFailures: 2, trustProxy: ['127.0.0.1'] })
  const { app } = await appFor(t, config)
  const from = (ip: string, code: string): InjectOptions =>
    ({ ...signin({ code }), headers: { 'content-type': 'application/json', 'x-forwarded-for': ip } })

  t.equal((await app.inject(from('203.0.113.1', 'aaa-1-AAA'))).statusCode, 401)
  t.equal((await app.inject(from('203.0.113.1', 'aaa-2-AAA'))).statusCode, 401)
  const locked = await app.inject(from('203.0.113.1', 'aaa-3-AAA'))
  t.equal(locked.statusCode, 429)
  t.equal(locked.json().error, 'locked')
  t.ok(Number(locked.headers['retry-after']) > 0)
  t.equal((await app.inject(from('203.0.113.2', 'aaa-4-AAA'))).statusCode, 401, 'another address is not locked')
})

t.test('a table that does not answer → 503, never an approval', async (t) => {
  const config = configFor(parts, {
    auth: { kind: 'connection-string', connectionString: 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;', queueName: 'nowhere' }
  })
  const { app } = await appFor(t, config)
  const res = await app.inject(signin({ code: 'abc-123-DEF' }))
  t.equal(res.statusCode, 503)
  t.equal(res.json().error, 'storage_unavailable')
})

t.test('key rotation: a code stored under the previous key version signs in for one code life after the new version, not later', async (t) => {
  const config = configFor(parts)
  const table = await tableFor(config)
  await insertCode(table, 'rot-1-OLD')
  await insertCode(table, 'rot-2-OLD')
  // The rotation: a new version of the secret becomes current.
  const newKey = 'rotated-code-hash-key-0123456789abcdef'
  vault.store.set(config.codeHash.secretName, { value: newKey })
  const { app } = await appFor(t, config)
  t.equal((await app.inject(signin({ code: 'rot-1-OLD' }))).statusCode, 200, 'accepted under the previous key')

  // Past the grace (CODE_TTL_SECONDS + CODE_HASH_KEY_REFRESH_SECONDS + skew) only the new key is loaded.
  const graceMs = (config.codeTtlSeconds + config.codeHash.refreshSeconds + 31) * 1000
  const { app: later } = await appFor(t, config, { now: () => new Date(Date.now() + graceMs) })
  t.equal((await later.inject(signin({ code: 'rot-2-OLD' }))).statusCode, 401, 'the previous key is dropped')
})

t.test('the code hash secret missing: sign-in answers 503 without counting a failure, and /readyz names the secret', async (t) => {
  const config = { ...configFor(parts), codeHash: { secretName: 'no-such-hash-key', refreshSeconds: 300 } }
  const { app } = await appFor(t, config, { keyStartWaitMs: 1000 })
  const res = await app.inject(signin({ code: 'abc-123-DEF' }))
  t.equal(res.statusCode, 503)
  t.equal(res.json().error, 'vault_unavailable')
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { checks: { vault: { ok: false, reason: /code hash key not loaded: code hash key \(secret "no-such-hash-key"\): the secret does not exist/ } } })
  const getcode = await app.inject('/api/v1/getcode')
  t.equal(getcode.statusCode, 503, 'no code is issued that could not be stored')
})

t.test('an empty or short key is refused, never used', async (t) => {
  const config = configFor(parts)
  vault.store.set(config.codeHash.secretName, { value: 'short' })
  const { app } = await appFor(t, config, { keyStartWaitMs: 1000 })
  t.equal((await app.inject(signin({ code: 'abc-123-DEF' }))).statusCode, 503)
  t.match((await app.inject('/readyz')).json(), { checks: { vault: { reason: /too short; it must be at least 32 characters/ } } })
})
