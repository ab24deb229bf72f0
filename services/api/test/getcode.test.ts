import t from 'tap'
import { SecretClient } from '@azure/keyvault-secrets'
import { createQueues } from '@codegate/shared/clients'
import { CODE_PATTERN } from '@codegate/shared/code'
import { DevTokenCredential } from '@codegate/shared/credentials'
import { parseTimestamp } from '@codegate/shared/time'
import { appFor, azuriteFor, configFor, drainQueue, fakeThirdParty, KEY, numberApiFor, queuedCount, secretReads, vaultFor, hasher, type Parts } from './fixtures/parts.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }

const NO_CODE = 'Could not get you a code.'

t.test('getcode answers a code only once the queue holds its activate message', async (t) => {
  const config = configFor(parts)
  const now = new Date('2030-01-02T03:04:05.678Z')
  const { app } = await appFor(t, config, { now: () => now })

  const res = await app.inject({ method: 'GET', url: '/api/v1/getcode?subject=alice@example.com' })

  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.match(body.code, new RegExp(CODE_PATTERN))
  t.equal(body.timestamp, '2030-01-02 03:04:05.678000', 'the original app\'s timestamp format')
  t.equal(body.expiresAt, '2030-01-02T03:14:05.678Z', 'issued + CODE_TTL_SECONDS')
  t.same(parseTimestamp(body.timestamp), now)

  const messages = await drainQueue(config)
  t.equal(messages.length, 1, 'exactly one message')
  t.same(messages[0], {
    v: 2,
    phase: 'activate',
    codeHash: hasher.hash(body.code),
    issuedAt: now,
    expiresAt: new Date(body.expiresAt),
    subject: 'alice@example.com'
  })
})

t.test('HEAD /api/v1/getcode is no route: it issues nothing, queues nothing, calls no third party', async (t) => {
  const config = configFor(parts)
  const { app } = await appFor(t, config)
  const before = numberApi.statuses.length
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'HEAD', url: '/api/v1/getcode' })
    t.equal(res.statusCode, 404)
  }
  t.equal(numberApi.statuses.length, before, 'no paid third-party call')
  t.same(await drainQueue(config), [], 'no message queued')
  t.equal((await app.inject({ method: 'HEAD', url: '/healthz' })).statusCode, 200, 'probes keep their HEAD')
})

t.test('getcode without subject queues a message without subject, as plain text when configured', async (t) => {
  const config = configFor(parts, { messageEncoding: 'text', codeTtlSeconds: 30 })
  const { app } = await appFor(t, config)
  const res = await app.inject('/api/v1/getcode')
  t.equal(res.statusCode, 200)
  const messages = await drainQueue(config)
  t.equal(messages.length, 1)
  t.equal(messages[0]?.codeHash, hasher.hash(res.json().code))
  t.equal(messages[0]?.subject, undefined)
  t.equal(messages[0]!.expiresAt.getTime() - messages[0]!.issuedAt.getTime(), 30_000)
})

t.test('an activate message never expires in the queue before its code does', async (t) => {
  // The worker hides the message for the code's life with updateMessage, which
  // cannot reach past the message's own expiry (7 days by default).
  const config = configFor(parts, { codeTtlSeconds: 604_800 })
  const { app } = await appFor(t, config)
  const res = await app.inject('/api/v1/getcode')
  t.equal(res.statusCode, 200)
  const { queue } = createQueues(config)
  const [peeked] = (await queue.peekMessages()).peekedMessageItems
  t.ok(peeked !== undefined && peeked.expiresOn.getTime() > Date.now() + 30 * 86_400_000, `message expires ${peeked?.expiresOn.toISOString()}`)
  await drainQueue(config)
})

t.test('a subject outside the allowed characters is a 400 and queues nothing', async (t) => {
  const config = configFor(parts)
  const { app } = await appFor(t, config)
  for (const subject of ['a%20b', '', 'x'.repeat(129), '%C3%A9', 'a&subject=b']) {
    const res = await app.inject(`/api/v1/getcode?subject=${subject}`)
    t.equal(res.statusCode, 400, `subject=${subject.slice(0, 20)}`)
    t.equal(res.json().error, 'invalid_request')
  }
  t.equal(await queuedCount(config), 0, 'nothing queued, visible or hidden')
})

/** Third-party answers that must end in 502 with the same message and nothing queued. */
const failures: { name: string, status: number, body: string, type?: string }[] = [
  { name: 'a 500', status: 500, body: '{"error":"upstream-detail-500"}' },
  { name: 'a 403', status: 403, body: 'forbidden-upstream-detail' },
  { name: 'a body that is not JSON', status: 200, body: '<html>upstream-detail</html>' },
  { name: 'a string value', status: 200, body: '{"value":"12"}' },
  { name: 'zero', status: 200, body: '{"value":0}' },
  { name: 'a number above 1000', status: 200, body: '{"value":1001}' },
  { name: 'a fraction', status: 200, body: '{"value":1.5}' },
  { name: 'a missing value', status: 200, body: '{"number":5}' },
  { name: 'an array', status: 200, body: '[5]' },
  { name: 'null', status: 200, body: 'null' },
  { name: 'an empty body', status: 200, body: '' },
  { name: 'a huge body', status: 200, body: `{"value":5,"pad":"${'x'.repeat(100_000)}"}` }
]

for (const failure of failures) {
  t.test(`third party answering ${failure.name} → 502, nothing passed through, nothing queued`, async (t) => {
    const upstream = await fakeThirdParty(t, (_req, res) => {
      res.writeHead(failure.status, { 'content-type': failure.type ?? 'application/json' }).end(failure.body)
    })
    const config = configFor(parts, { thirdPartyEndpoint: upstream.url })
    const { app } = await appFor(t, config)
    const res = await app.inject('/api/v1/getcode')
    t.equal(res.statusCode, 502)
    t.same(res.json(), { error: 'third_party_failed', message: NO_CODE })
    t.notMatch(res.body, /upstream-detail/)
    t.equal(await queuedCount(config), 0, 'nothing queued, visible or hidden')
  })
}

t.test('third party refusing the key (401), even after a vault re-read → 502, nothing queued', async (t) => {
  const config = configFor(parts, {}, 'a-key-number-api-does-not-know')
  const { app } = await appFor(t, config)
  const res = await app.inject('/api/v1/getcode')
  t.equal(res.statusCode, 502)
  t.same(res.json(), { error: 'third_party_failed', message: NO_CODE })
  t.equal(await queuedCount(config), 0, 'nothing queued, visible or hidden')
})

t.test('third party unreachable → 502, nothing queued', async (t) => {
  const gone = await numberApiFor(t)
  await gone.close()
  const config = configFor(parts, { thirdPartyEndpoint: gone.url })
  const { app } = await appFor(t, config)
  const res = await app.inject('/api/v1/getcode')
  t.equal(res.statusCode, 502)
  t.equal(res.json().error, 'third_party_failed')
  t.equal(await queuedCount(config), 0, 'nothing queued, visible or hidden')
})

t.test('third party slower than THIRD_PARTY_TIMEOUT_MS → 504 in about that time, nothing queued', async (t) => {
  const upstream = await fakeThirdParty(t, (_req, res) => {
    setTimeout(() => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"value":5}') }, 3000).unref()
  })
  const config = configFor(parts, { thirdPartyEndpoint: upstream.url, thirdPartyTimeoutMs: 300 })
  const { app } = await appFor(t, config)
  const started = Date.now()
  const res = await app.inject('/api/v1/getcode')
  const took = Date.now() - started
  t.equal(res.statusCode, 504)
  t.equal(res.json().error, 'third_party_timeout')
  t.ok(took < 2000, `answered in ${took} ms`)
  t.equal(await queuedCount(config), 0, 'nothing queued, visible or hidden')
})

t.test('a third party that sends headers then stalls the body also times out (504)', async (t) => {
  const upstream = await fakeThirdParty(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"value":')
  })
  const config = configFor(parts, { thirdPartyEndpoint: upstream.url, thirdPartyTimeoutMs: 300 })
  const { app } = await appFor(t, config)
  const res = await app.inject('/api/v1/getcode')
  t.equal(res.statusCode, 504)
  t.equal(await queuedCount(config), 0, 'nothing queued, visible or hidden')
})

t.test('a key rotated in the vault is picked up after one 401, without a restart', async (t) => {
  const rotating = await numberApiFor(t, [KEY])
  const config = configFor(parts, { thirdPartyEndpoint: rotating.url })
  const { app } = await appFor(t, config)
  t.equal((await app.inject('/api/v1/getcode')).statusCode, 200, 'works with the first key')

  // Rotate: a new version in the vault, and the third party accepts only the new key.
  const secrets = new SecretClient(config.keyVaultUrl, new DevTokenCredential(), {
    tlsOptions: { ca: vault.caPem },
    disableChallengeResourceVerification: true
  })
  await secrets.setSecret(config.secretName, 'rotated-key-abcdefghijkl')
  await rotating.close()
  const rotated = await numberApiFor(t, ['rotated-key-abcdefghijkl'], rotating.port)

  const res = await app.inject('/api/v1/getcode')
  t.equal(res.statusCode, 200)
  t.same(rotated.statuses, [401, 200], 'one 401 with the old key, then the new key')
  t.equal((await app.inject('/api/v1/getcode')).statusCode, 200)
  t.same(rotated.statuses, [401, 200, 200], 'the new key is cached')
  const messages = await drainQueue(config)
  t.equal(messages.length, 3)
})

t.test('concurrent getcodes after a rotation re-read the vault once', async (t) => {
  const upstream = await fakeThirdParty(t, (req, res) => {
    const ok = req.headers['x-functions-key'] === 'second-key-0123456789'
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(ok ? '{"value":42}' : '{}')
  })
  const config = configFor(parts, { thirdPartyEndpoint: upstream.url })
  const { app } = await appFor(t, config)
  t.equal(secretReads(vault, config.secretName), 1, 'the key was read at start')
  vault.store.set(config.secretName, { value: 'second-key-0123456789' })
  const answers = await Promise.all(Array.from({ length: 10 }, async () => await app.inject('/api/v1/getcode')))
  t.same(answers.map((r) => r.statusCode), Array(10).fill(200))
  t.equal(secretReads(vault, config.secretName), 2, 'ten 401s from the third party, one more vault read')
  t.ok(answers.every((r) => /^[A-Za-z]{3}-42-[A-Za-z]{3}$/.test(r.json().code)))
  t.equal((await drainQueue(config)).length, 10)
})
