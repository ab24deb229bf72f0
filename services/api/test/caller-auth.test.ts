/**
 * Caller authentication against the real local issuer: dev-vault's discovery,
 * key set and token endpoint over https sockets, the api listening on a port,
 * every request a real HTTP request.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { SignJWT, UnsecuredJWT, decodeProtectedHeader, type JWTPayload } from 'jose'
import type { CallerAuthConfig } from '@codegate/shared/config'
import type { ApiConfig } from '../src/config.js'
import { CODE_PATTERN } from '@codegate/shared/code'
import { DEV_VAULT_TENANT_ID, requestDevToken, startDevVault, unpublishedKey, type DevVault } from '@codegate/dev-vault'
import { appFor, azuriteFor, configFor, drainQueue, insertCode, numberApiFor, tableFor, vaultFor, type Parts } from './fixtures/parts.js'
import type { AppOptions } from '../src/app.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }

const AUDIENCE = 'api://codegate-test'
const ISSUE = 'Codes.Issue'
const VERIFY = 'Codes.Verify'

function entra (issuerVault: DevVault = vault, overrides: Partial<Extract<CallerAuthConfig, { mode: 'entra' }>> = {}): CallerAuthConfig {
  return { mode: 'entra', issuer: issuerVault.issuer.issuer, audiences: [AUDIENCE], issueRole: ISSUE, verifyRole: VERIFY, clockSkewSeconds: 60, caFile: issuerVault.certFile, ...overrides }
}

/** A token from the issuer's token endpoint, over https. */
async function tokenFrom (issuerVault: DevVault, roles: string[], audience = AUDIENCE): Promise<string> {
  return (await requestDevToken({ tokenEndpoint: issuerVault.issuer.tokenEndpoint, ca: issuerVault.caPem, audience, roles })).token
}

interface Api {
  url: string
  config: ApiConfig
  logs: string[]
  call: (path: string, init?: { token?: string, authorization?: string, body?: unknown }) => Promise<Response>
}

async function apiFor (t: Test, callerAuth: CallerAuthConfig = entra(), options: AppOptions = {}): Promise<Api> {
  const config = configFor(parts, { callerAuth })
  const { app, logs } = await appFor(t, config, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return {
    url,
    config,
    logs,
    call: async (path, init = {}) => {
      const headers: Record<string, string> = {}
      const authorization = init.authorization ?? (init.token !== undefined ? `Bearer ${init.token}` : undefined)
      if (authorization !== undefined) headers.authorization = authorization
      if (init.body !== undefined) headers['content-type'] = 'application/json'
      return await fetch(`${url}${path}`, {
        method: init.body !== undefined ? 'POST' : 'GET',
        headers,
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {})
      })
    }
  }
}

// any: the assertions walk whatever JSON came back.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const bodyOf = async (res: Response): Promise<any> => await res.json()

const getcode = '/api/v1/getcode'
const signin = '/api/v1/signin'

/** A JWT's three parts, re-assembled with a payload of our choosing (the signature no longer matches). */
function withPayload (token: string, payload: JWTPayload): string {
  const [header, , signature] = token.split('.')
  return `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`
}
const payloadOf = (token: string): JWTPayload => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload

async function assertInvalid (t: Test, res: Response, what: string): Promise<void> {
  t.equal(res.status, 401, `${what}: 401`)
  t.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"', `${what}: invalid_token challenge`)
  t.equal((await bodyOf(res)).error, 'invalid_token', what)
}

t.test('a token from the issuer with the role gets a code, and one with the other role signs in with it', async (t) => {
  const api = await apiFor(t)
  const issued = await api.call(getcode, { token: await tokenFrom(vault, [ISSUE]) })
  t.equal(issued.status, 200)
  const { code } = await bodyOf(issued)
  t.match(code, new RegExp(CODE_PATTERN))
  // Activate it as the worker would, then redeem it.
  await insertCode(await tableFor(api.config), code)
  const signedIn = await api.call(signin, { token: await tokenFrom(vault, [VERIFY]), body: { code } })
  t.equal(signedIn.status, 200)
  t.same(await bodyOf(signedIn), { status: 'approved' })
})

t.test('no token: 401 with a bare Bearer challenge, and nothing is queued', async (t) => {
  const api = await apiFor(t)
  for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer']) {
    const res = await api.call(getcode, authorization !== undefined ? { authorization } : {})
    t.equal(res.status, 401, String(authorization))
    t.equal(res.headers.get('www-authenticate'), 'Bearer', 'RFC 6750 §3.1: no error code when no credentials were sent')
    t.equal((await bodyOf(res)).error, 'missing_token')
  }
  const res = await api.call(signin, { body: { code: 'abc-123-def' } })
  t.equal(res.status, 401)
  t.equal((await bodyOf(res)).error, 'missing_token', 'sign-in too, before its body is looked at')
  t.same(await drainQueue(api.config), [])
})

t.test('a header that is not one token68 value is an invalid token', async (t) => {
  const api = await apiFor(t)
  for (const authorization of ['Bearer a b', 'Bearer <script>', `Bearer ${'a'.repeat(9000)}`, 'Bearer not.a.jwt']) {
    await assertInvalid(t, await api.call(getcode, { authorization }), authorization.slice(0, 20))
  }
})

t.test('an expired token is refused; one inside the clock skew is not', async (t) => {
  const api = await apiFor(t)
  const hourAgo = new Date(Date.now() - 3600_000)
  const expired = await vault.issuer.issue({ clientId: 'app', audience: AUDIENCE, roles: [ISSUE] }, { now: hourAgo, lifetimeSeconds: 3600 - 120 })
  await assertInvalid(t, await api.call(getcode, { token: expired.token }), 'expired two minutes ago')
  const justExpired = await vault.issuer.issue({ clientId: 'app', audience: AUDIENCE, roles: [ISSUE] }, { now: hourAgo, lifetimeSeconds: 3600 - 20 })
  t.equal((await api.call(getcode, { token: justExpired.token })).status, 200, 'expired 20 s ago, inside the 60 s skew')
  t.ok(api.logs.some((l) => l.includes('"auth.rejected"') && l.includes('"reason":"expired"')), 'the log says why')
})

t.test('a token accepted once (and remembered) is refused as soon as it expires', async (t) => {
  const api = await apiFor(t, entra(vault, { clockSkewSeconds: 0 }))
  const { token } = await vault.issuer.issue({ clientId: 'app', audience: AUDIENCE, roles: [ISSUE] }, { lifetimeSeconds: 2 })
  t.equal((await api.call(getcode, { token })).status, 200)
  const exp = payloadOf(token).exp! * 1000
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp - Date.now()) + 1100))
  await assertInvalid(t, await api.call(getcode, { token }), 'the same token after its exp')
})

t.test('a token not yet valid is refused', async (t) => {
  const api = await apiFor(t)
  const later = await vault.issuer.issue({ clientId: 'app', audience: AUDIENCE, roles: [ISSUE] }, { now: new Date(Date.now() + 600_000) })
  await assertInvalid(t, await api.call(getcode, { token: later.token }), 'nbf ten minutes ahead')
})

t.test('a token for another audience is refused', async (t) => {
  const api = await apiFor(t)
  await assertInvalid(t, await api.call(getcode, { token: await tokenFrom(vault, [ISSUE], 'api://another-api') }), 'aud api://another-api')
  // Any of several configured audiences is accepted (client id and application ID URI).
  const both = await apiFor(t, entra(vault, { audiences: ['11111111-2222-3333-4444-555555555555', AUDIENCE] }))
  t.equal((await both.call(getcode, { token: await tokenFrom(vault, [ISSUE]) })).status, 200)
})

t.test('a token from another issuer is refused, whether signed by its own key or by ours', async (t) => {
  const api = await apiFor(t)
  const dir = await mkdtemp(join(tmpdir(), 'codegate-other-issuer-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const other = await startDevVault({ logLevel: 'silent', host: '127.0.0.1', port: 0, certDir: dir, hostnames: ['127.0.0.1'], seed: {} }, { logger: false })
  t.teardown(() => other.close())
  await assertInvalid(t, await api.call(getcode, { token: await tokenFrom(other, [ISSUE]) }), 'another issuer\'s token')
  const ours = await vault.issuer.issue({ clientId: 'app', audience: AUDIENCE, roles: [ISSUE] }, { claims: { iss: other.issuer.issuer } })
  await assertInvalid(t, await api.call(getcode, { token: ours.token }), 'our key, another iss')
})

t.test('a wrong signature is refused: a changed payload, or a key the issuer never published', async (t) => {
  const api = await apiFor(t)
  const verifyOnly = await tokenFrom(vault, [VERIFY])
  const escalated = withPayload(verifyOnly, { ...payloadOf(verifyOnly), roles: [VERIFY, ISSUE] })
  await assertInvalid(t, await api.call(getcode, { token: escalated }), 'roles added to a signed token')
  const forged = await vault.issuer.issue({ clientId: 'app', audience: AUDIENCE, roles: [ISSUE] }, { key: { jwk: await unpublishedKey(), kid: vault.issuer.currentKid } })
  await assertInvalid(t, await api.call(getcode, { token: forged.token }), 'signed by an unpublished key under the current kid')
  const unknownKid = await vault.issuer.issue({ clientId: 'app', audience: AUDIENCE, roles: [ISSUE] }, { key: { jwk: await unpublishedKey(), kid: 'not-a-published-kid' } })
  await assertInvalid(t, await api.call(getcode, { token: unknownKid.token }), 'an unknown kid')
})

t.test('alg none and HS256 tokens are refused', async (t) => {
  const api = await apiFor(t)
  const claims = payloadOf(await tokenFrom(vault, [ISSUE]))
  const unsecured = new UnsecuredJWT(claims).encode()
  t.equal(decodeProtectedHeader(unsecured).alg, 'none')
  await assertInvalid(t, await api.call(getcode, { token: unsecured }), 'alg none')
  // Algorithm confusion: an HMAC keyed with the public key's published modulus.
  const published = vault.issuer.jwks().keys[0]
  const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: vault.issuer.currentKid }).sign(Buffer.from(published?.n ?? ''))
  await assertInvalid(t, await api.call(getcode, { token: hs256 }), 'HS256 with the public key')
})

t.test('a key rotated at the issuer: the new kid is accepted after the api fetches the key set again, old tokens still pass', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'codegate-rotating-issuer-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const rotating = await startDevVault({ logLevel: 'silent', host: '127.0.0.1', port: 0, certDir: dir, hostnames: ['127.0.0.1'], seed: {} }, { logger: false })
  t.teardown(() => rotating.close())
  // A short cooldown, so the test need not wait jose's default 30 s between key-set fetches.
  const api = await apiFor(t, entra(rotating), { callerAuth: { jwksCooldownMs: 200 } })
  const before = await tokenFrom(rotating, [ISSUE])
  t.equal((await api.call(getcode, { token: before })).status, 200, 'the first key set is cached')
  const oldKid = rotating.issuer.currentKid
  const newKid = await rotating.issuer.rotate()
  t.not(newKid, oldKid)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const after = await tokenFrom(rotating, [ISSUE])
  t.equal(decodeProtectedHeader(after).kid, newKid)
  t.equal((await api.call(getcode, { token: after })).status, 200, 'unknown kid: key set fetched again, token accepted')
  t.equal((await api.call(getcode, { token: before })).status, 200, 'a token signed before the rotation is still good')
})

t.test('a valid token without the role is 403 with insufficient_scope', async (t) => {
  const api = await apiFor(t)
  const cases: [string, string[], string][] = [[getcode, [], ISSUE], [getcode, [VERIFY], ISSUE], [signin, [ISSUE], VERIFY]]
  for (const [path, roles, needed] of cases) {
    const res = await api.call(path, { token: await tokenFrom(vault, roles), ...(path === signin ? { body: { code: 'abc-123-def' } } : {}) })
    t.equal(res.status, 403, `${path} with [${roles.join(',')}]`)
    t.match(res.headers.get('www-authenticate'), /^Bearer error="insufficient_scope"/)
    t.same(await bodyOf(res), { error: 'insufficient_role', message: `The access token lacks the app role ${needed}.` })
  }
  t.same(await drainQueue(api.config), [], 'no code was made for a caller without the role')
})

t.test('role names come from the config', async (t) => {
  const api = await apiFor(t, entra(vault, { issueRole: 'Mint', verifyRole: 'Check' }))
  t.equal((await api.call(getcode, { token: await tokenFrom(vault, [ISSUE]) })).status, 403)
  t.equal((await api.call(getcode, { token: await tokenFrom(vault, ['Mint']) })).status, 200)
})

t.test('issuer unreachable, or its discovery naming another issuer: 503, not the caller\'s fault', async (t) => {
  const closed = await apiFor(t, entra(vault, { issuer: `https://127.0.0.1:1/${DEV_VAULT_TENANT_ID}/v2.0` }), { callerAuth: { warmUpWaitMs: 100, timeoutMs: 500 } })
  const res = await closed.call(getcode, { token: await tokenFrom(vault, [ISSUE]) })
  t.equal(res.status, 503)
  t.equal((await bodyOf(res)).error, 'auth_unavailable')
  t.ok(closed.logs.some((l) => l.includes('auth.issuer_unavailable')), 'start logged that the keys could not be loaded')
  // Discovery read at the issuer's URL must name that issuer (OpenID Connect Discovery §4.3).
  const mismatch = await apiFor(t, entra(vault, { issuer: `${vault.url}/${DEV_VAULT_TENANT_ID}/v2.0/` }), { callerAuth: { warmUpWaitMs: 2000 } })
  t.equal((await mismatch.call(getcode, { token: await tokenFrom(vault, [ISSUE]) })).status, 503)
})

t.test('home, probes and docs stay open; the OpenAPI document declares the bearer scheme on getcode and signin', async (t) => {
  const api = await apiFor(t)
  for (const path of ['/', '/healthz', '/readyz', '/docs/json']) t.equal((await api.call(path)).status, 200, path)
  const doc = await bodyOf(await api.call('/docs/json'))
  t.same(Object.keys(doc.components.securitySchemes), ['entraBearer'])
  t.match(doc.components.securitySchemes.entraBearer, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.same(doc.paths['/api/v1/getcode'].get.security, [{ entraBearer: [] }])
  t.same(doc.paths['/api/v1/signin'].post.security, [{ entraBearer: [] }])
  t.ok(doc.paths['/api/v1/getcode'].get.responses['401'] !== undefined && doc.paths['/api/v1/getcode'].get.responses['403'] !== undefined)
  t.equal(doc.paths['/healthz'].get.security, undefined)
})

t.test('tokens never reach the log; the caller\'s app id does', async (t) => {
  const api = await apiFor(t)
  const token = await tokenFrom(vault, [ISSUE])
  t.equal((await api.call(getcode, { token })).status, 200)
  await api.call(getcode, { token: withPayload(token, { ...payloadOf(token), aud: 'x' }) })
  const signature = token.split('.')[2] ?? ''
  t.notOk(api.logs.some((l) => l.includes(signature) || l.includes(token.split('.')[1] ?? '')), 'no part of a token is logged')
  t.ok(api.logs.some((l) => l.includes('"code.issued"') && l.includes('"callerAppId":"codegate-dev-client"')), 'the issued code is logged with its caller')
})

t.test('AUTH_MODE=none: the original sample\'s open getcode, and a warning at start', async (t) => {
  const api = await apiFor(t, { mode: 'none' })
  const res = await api.call(getcode)
  t.equal(res.status, 200)
  t.match(await bodyOf(res), { code: new RegExp(CODE_PATTERN), timestamp: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/ })
  t.ok(api.logs.some((l) => l.includes('"level":40') && l.includes('auth.disabled')), 'warned')
  const doc = await bodyOf(await api.call('/docs/json'))
  t.equal(doc.components?.securitySchemes, undefined, 'no security scheme is claimed')
})
