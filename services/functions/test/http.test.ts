/**
 * The HTTP triggers, invoked in-process with @azure/functions' HttpRequest
 * and InvocationContext, against real Azurite, dev-vault and number-api.
 * Each test has its own queue, table and secret.
 */
import t, { type Test } from 'tap'
import type { CallerAuthConfig } from '@codegate/shared/config'
import { codeIdOf } from '@codegate/shared/code-hash'
import { decodeMessage } from '@codegate/shared/message'
import { requestDevToken } from '@codegate/dev-vault'
import { connectionStringFor, freePort } from '@codegate/stack'
import { createFunctions } from '../src/functions.js'
import { azuriteFor, configFor, functionsConfigOf, functionsFor, hasher, numberApiFor, vaultFor, WHOLE_CODE, type Parts } from './fixtures/parts.js'
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
  const codeHash = hasher.hash(body.code)
  t.match(message, { phase: 'activate', codeHash, subject: 'alice' })
  t.notOk((text as string).includes(body.code), 'the queue holds the code\'s hash, never the code')
  t.equal(message.expiresAt.toISOString(), body.expiresAt)
  t.notOk(logs.join('').includes(body.code), 'the code is never logged whole')
  t.ok(logs.some((l) => l.includes('"event":"code.issued"') && l.includes(`"codeId":"${codeIdOf(codeHash)}"`)), 'the issued code is named by its id')
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

// Caller authentication: the same module as the Fastify api's (services/api/src/caller-auth.ts), against dev-vault's real issuer.
const AUDIENCE = 'api://codegate-functions-test'
const entra: CallerAuthConfig = { mode: 'entra', issuer: parts.vault.issuer.issuer, audiences: [AUDIENCE], issueRole: 'Codes.Issue', verifyRole: 'Codes.Verify', clockSkewSeconds: 60, caFile: parts.vault.certFile }
const tokenWith = async (roles: string[], audience = AUDIENCE): Promise<string> =>
  (await requestDevToken({ tokenEndpoint: parts.vault.issuer.tokenEndpoint, ca: parts.vault.caPem, audience, roles })).token
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

async function assertRefused (t: Test, response: Awaited<ReturnType<ReturnType<typeof createFunctions>['getcode']>>, status: number, error: string, challenge: string | RegExp, what: string): Promise<void> {
  t.equal(response.status, status, what)
  t.match(response.headers, { 'www-authenticate': challenge }, what)
  t.match(response.jsonBody, { error, message: String }, what)
}

t.test('with caller auth, no token or a bad one is a 401 with the api\'s challenge, before the query or body is read', async (t) => {
  const config = configFor(parts, { callerAuth: entra })
  const { fns } = await functionsFor(config)
  for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer']) {
    const headers = authorization !== undefined ? { authorization } : undefined
    await assertRefused(t, await fns.getcode(request({ url: 'http://127.0.0.1/api/v1/getcode?subject=a%20b', ...(headers !== undefined ? { headers } : {}) }), invocation('getcode')), 401, 'missing_token', /^Bearer$/, `getcode, ${String(authorization)}`)
  }
  const forged = (await tokenWith(['Codes.Issue'], 'api://someone-else'))
  for (const [what, authorization] of [['another audience', `Bearer ${forged}`], ['not token68', 'Bearer a b'], ['not a JWT', 'Bearer not.a.jwt']]) {
    await assertRefused(t, await fns.getcode(request({ url: 'http://127.0.0.1/api/v1/getcode', headers: { authorization: authorization as string } }), invocation('getcode')), 401, 'invalid_token', /^Bearer error="invalid_token"$/, `getcode, ${String(what)}`)
  }
  // A body that would be a 400 or 415: the caller learns nothing of it without a token.
  await assertRefused(t, await fns.signin(jsonRequest('{"code":'), invocation('signin')), 401, 'missing_token', /^Bearer$/, 'sign-in, no token')
  await assertRefused(t, await fns.signin(jsonRequest({ code: 'abc-1-def' }, { authorization: 'Bearer not.a.jwt', 'content-type': 'text/plain' }), invocation('signin')), 401, 'invalid_token', /invalid_token/, 'sign-in, bad token')
  t.equal(await queueLength(fns.queues), 0, 'nothing queued')
})

t.test('with caller auth, a token without the endpoint\'s role is a 403 insufficient_scope', async (t) => {
  const config = configFor(parts, { callerAuth: entra })
  const { fns, logs } = await functionsFor(config)
  const verifyOnly = await tokenWith(['Codes.Verify'])
  const issueOnly = await tokenWith(['Codes.Issue'])
  await assertRefused(t, await fns.getcode(request({ url: 'http://127.0.0.1/api/v1/getcode', headers: bearer(verifyOnly) }), invocation('getcode')), 403, 'insufficient_role', /^Bearer error="insufficient_scope", error_description="needs the app role Codes.Issue"$/, 'getcode with Codes.Verify')
  await assertRefused(t, await fns.signin(jsonRequest({ code: 'abc-1-def' }, bearer(issueOnly)), invocation('signin')), 403, 'insufficient_role', /needs the app role Codes.Verify/, 'sign-in with Codes.Issue')
  t.equal(await queueLength(fns.queues), 0, 'nothing queued')
  t.ok(logs.some((l) => l.includes('"auth.forbidden"') && l.includes('"callerAppId":"codegate-dev-client"')), 'the refusal names the caller')
})

t.test('with caller auth, tokens with the roles get a code, and sign in with it once the worker activated it', async (t) => {
  const config = configFor(parts, { callerAuth: entra })
  const { fns, listener, logs } = await functionsFor(config)
  const issueToken = await tokenWith(['Codes.Issue'])
  const issued = await fns.getcode(request({ url: 'http://127.0.0.1/api/v1/getcode?subject=frank', headers: bearer(issueToken) }), invocation('getcode'))
  t.equal(issued.status, 200)
  const { code } = issued.jsonBody as { code: string }
  t.match(await listener.pollOnce(), { received: 1, succeeded: 1 })
  const verifyToken = await tokenWith(['Codes.Verify'])
  const signedIn = await fns.signin(jsonRequest({ code, subject: 'frank' }, bearer(verifyToken)), invocation('signin'))
  t.equal(signedIn.status, 200)
  t.same(signedIn.jsonBody, { status: 'approved' })
  t.ok(logs.some((l) => l.includes('"code.issued"') && l.includes('"callerAppId":"codegate-dev-client"')), 'the issued code is logged with its caller')
  const tokenParts = [...issueToken.split('.').slice(1), ...verifyToken.split('.').slice(1)]
  t.notOk(logs.some((l) => tokenParts.some((p) => l.includes(p))), 'no part of a token is logged')
})

t.test('AUTH_MODE=none leaves getcode open and warns at every start', async (t) => {
  const { fns, logs } = await functionsFor(configFor(parts, { callerAuth: { mode: 'none' } }))
  t.ok(logs.some((l) => l.includes('"level":40') && l.includes('"auth.disabled"')), 'warned at start')
  t.equal((await fns.getcode(getcode(), invocation('getcode'))).status, 200)
})
