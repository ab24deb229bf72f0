/**
 * The HTTP triggers, invoked in-process with @azure/functions' HttpRequest
 * and InvocationContext, against real Azurite, dev-vault and number-api.
 * Each test has its own queue, table and secret.
 */
import t from 'tap'
import { decodeMessage } from '@codegate/shared/message'
import { connectionStringFor, freePort } from '@codegate/stack'
import { createFunctions } from '../src/functions.js'
import { azuriteFor, configFor, functionsConfigOf, functionsFor, numberApiFor, vaultFor, WHOLE_CODE, type Parts } from './fixtures/parts.js'
import { invocation, jsonRequest, peekTexts, queueLength, request } from './fixtures/host.js'

const parts: Parts = {
  azurite: await azuriteFor(t),
  vault: await vaultFor(t),
  numberApi: await numberApiFor(t)
}

const getcode = (query = ''): ReturnType<typeof request> => request({ url: `http://127.0.0.1/api/v1/getcode${query}` })

t.test('getcode answers the code only once its activate is on the queue', async (t) => {
  const config = configFor(parts)
  const { fns, logs } = await functionsFor(config)
  const response = await fns.getcode(getcode('?subject=alice'), invocation('getcode'))
  t.equal(response.status, 200)
  t.match(response.headers, { 'cache-control': 'no-store' })
  const body = response.jsonBody as { code: string, timestamp: string, expiresAt: string }
  t.match(body, { code: WHOLE_CODE, timestamp: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/ })
  const [text] = await peekTexts(fns.queues)
  const { message } = decodeMessage(text as string, 600)
  t.match(message, { phase: 'activate', code: body.code, subject: 'alice' })
  t.equal(message.expiresAt.toISOString(), body.expiresAt)
  t.notOk(logs.join('').includes(body.code), 'the code is never logged whole')
  t.ok(logs.some((l) => l.includes('"event":"code.issued"')))
})

t.test('getcode refuses a malformed or repeated subject with 400 and queues nothing', async (t) => {
  const config = configFor(parts)
  const { fns } = await functionsFor(config)
  for (const query of ['?subject=', '?subject=a%20b', `?subject=${'x'.repeat(129)}`, '?subject=a&subject=b']) {
    const response = await fns.getcode(getcode(query), invocation('getcode'))
    t.equal(response.status, 400, query)
    t.match(response.jsonBody, { error: 'invalid_request', message: /querystring/ }, query)
  }
  t.equal(await queueLength(fns.queues), 0)
})

t.test('getcode answers 502 when the third party refuses the key, 503 when the vault has no key; nothing queued', async (t) => {
  const stale = configFor(parts, {}, 'a-key-number-api-does-not-know')
  const a = await functionsFor(stale)
  const refused = await a.fns.getcode(getcode(), invocation('getcode'))
  t.equal(refused.status, 502)
  t.match(refused.jsonBody, { error: 'third_party_failed' })
  t.notOk(a.logs.join('').includes('a-key-number-api-does-not-know'), 'the key is not logged')
  t.equal(await queueLength(a.fns.queues), 0)

  const noKey = configFor(parts, { secretName: 'no-such-secret' })
  const b = await functionsFor(noKey)
  const unavailable = await b.fns.getcode(getcode(), invocation('getcode'))
  t.equal(unavailable.status, 503)
  t.match(unavailable.jsonBody, { error: 'vault_unavailable' })
  t.equal(await queueLength(b.fns.queues), 0)
})

t.test('sign-in approves a live code once, then answers 401 like any other refusal', async (t) => {
  const config = configFor(parts)
  const { fns, listener } = await functionsFor(config)
  const issued = (await fns.getcode(getcode('?subject=bob'), invocation('getcode'))).jsonBody as { code: string }
  await listener.pollOnce()
  const first = await fns.signin(jsonRequest({ code: issued.code, subject: 'bob' }), invocation('signin'))
  t.equal(first.status, 200)
  t.same(first.jsonBody, { status: 'approved' })
  for (const body of [{ code: issued.code, subject: 'bob' }, { code: 'abc-1-def' }]) {
    const again = await fns.signin(jsonRequest(body), invocation('signin'))
    t.equal(again.status, 401)
    t.same(again.jsonBody, { error: 'invalid_code', message: 'The code is not valid. Get a new one and try again.' })
  }
})

t.test('a code issued for a subject does not sign in another subject', async (t) => {
  const config = configFor(parts)
  const { fns, listener } = await functionsFor(config)
  const issued = (await fns.getcode(getcode('?subject=carol'), invocation('getcode'))).jsonBody as { code: string }
  await listener.pollOnce()
  t.equal((await fns.signin(jsonRequest({ code: issued.code, subject: 'mallory' }), invocation('signin'))).status, 401)
  t.equal((await fns.signin(jsonRequest({ code: issued.code }), invocation('signin'))).status, 401)
  t.equal((await fns.signin(jsonRequest({ code: issued.code, subject: 'carol' }), invocation('signin'))).status, 200)
})

t.test('sign-in checks the body before the table: 415, 413, 400 with a reason', async (t) => {
  // A table that does not exist: any table call would be a 503, not these answers.
  const config = configFor(parts)
  const { fns } = await functionsFor(config)
  await fns.codesTable.client.deleteTable()
  const cases: [string, ReturnType<typeof request>, number, string][] = [
    ['text/plain', jsonRequest('{"code":"abc-1-def"}', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
    ['no content type', request({ method: 'POST', url: 'http://127.0.0.1/api/v1/signin', body: { string: '{}' } }), 415, 'unsupported_media_type'],
    ['over 1 KiB', jsonRequest({ code: 'abc-1-def', subject: 'x'.repeat(2000) }), 413, 'payload_too_large'],
    ['not JSON', jsonRequest('{"code":'), 400, 'invalid_json'],
    ['empty', jsonRequest(''), 400, 'invalid_json'],
    ['no code', jsonRequest({ subject: 'a' }), 400, 'invalid_request'],
    ['not a code', jsonRequest({ code: 'abc-1001-def' }), 400, 'invalid_request'],
    ['a number for the code', jsonRequest({ code: 123 }), 400, 'invalid_request'],
    ['an extra property', jsonRequest({ code: 'abc-1-def', admin: true }), 400, 'invalid_request'],
    ['an array', jsonRequest([{ code: 'abc-1-def' }]), 400, 'invalid_request']
  ]
  for (const [name, req, status, error] of cases) {
    const response = await fns.signin(req, invocation('signin'))
    t.equal(response.status, status, name)
    t.match(response.jsonBody, { error, message: String }, name)
  }
})

t.test('sign-in answers 503 when the table does not answer', async (t) => {
  // Nothing listens on the table port.
  const config = configFor(parts)
  const down = { ...config, auth: { ...config.auth, connectionString: connectionStringFor('127.0.0.1', parts.azurite.queuePort, await freePort()), queueName: 'unused' } }
  const logs: string[] = []
  const fns = createFunctions(functionsConfigOf(down), { logStream: { write: (line) => { logs.push(line) } } })
  const response = await fns.signin(jsonRequest({ code: 'abc-1-def' }), invocation('signin'))
  t.equal(response.status, 503)
  t.match(response.jsonBody, { error: 'storage_unavailable' })
  t.notOk(logs.join('').includes('abc-1-def'))
})

t.test('failed sign-ins lock the subject with 429 and Retry-After, whatever the code', async (t) => {
  const config = configFor(parts, { signinMaxFailures: 2, signinLockoutSeconds: 60 })
  const { fns, listener } = await functionsFor(config)
  const issued = (await fns.getcode(getcode('?subject=dave'), invocation('getcode'))).jsonBody as { code: string }
  await listener.pollOnce()
  for (const code of ['abc-1-def', 'abc-2-def']) t.equal((await fns.signin(jsonRequest({ code, subject: 'dave' }), invocation('signin'))).status, 401)
  const locked = await fns.signin(jsonRequest({ code: issued.code, subject: 'dave' }), invocation('signin'))
  t.equal(locked.status, 429)
  t.match(locked.headers, { 'retry-after': /^\d+$/ })
  t.match(locked.jsonBody, { error: 'locked' })
})

t.test('without a subject the lockout key is the address the front end added, not one the client wrote', async (t) => {
  const config = configFor(parts, { signinMaxFailures: 2, signinLockoutSeconds: 60 })
  const { fns } = await functionsFor(config)
  const from = (xff: string): ReturnType<typeof jsonRequest> => jsonRequest({ code: 'abc-1-def' }, { 'x-forwarded-for': xff })
  // The attacker varies what it sends; the platform appends the real address last.
  t.equal((await fns.signin(from('10.0.0.1, 203.0.113.7:50123'), invocation('signin'))).status, 401)
  t.equal((await fns.signin(from('10.0.0.2, 203.0.113.7:50124'), invocation('signin'))).status, 401)
  t.equal((await fns.signin(from('10.0.0.3, 203.0.113.7:50125'), invocation('signin'))).status, 429, 'the same address is locked')
  t.equal((await fns.signin(from('203.0.113.7, 198.51.100.9:40000'), invocation('signin'))).status, 401, 'another address is not')
  t.equal((await fns.signin(from('[2001:db8::1]:443'), invocation('signin'))).status, 401)
  t.equal((await fns.signin(from('2001:db8::1'), invocation('signin'))).status, 401)
  t.equal((await fns.signin(from('[2001:db8::1]:444'), invocation('signin'))).status, 429, 'an IPv6 address with or without a port is one key')
})
