/** dev-vault's token issuer over https: discovery, key set, token endpoint, keys kept across restarts, rotation. */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import type { DevVaultConfig } from '../src/config.js'
import { startDevVault, type DevVault } from '../src/app.js'
import { parseTokenRequest } from '../src/issuer-routes.js'
import { requestDevToken } from '../src/token-client.js'
import { KEYS_FILE, issuerPaths } from '../src/token-issuer.js'

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dev-vault-issuer-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const configFor = (certDir: string, publicUrl?: string): DevVaultConfig =>
  ({ logLevel: 'silent', host: '127.0.0.1', port: 0, certDir, hostnames: ['localhost', '127.0.0.1'], seed: {}, ...(publicUrl !== undefined ? { publicUrl } : {}) })

async function start (t: Test, config: DevVaultConfig): Promise<DevVault> {
  const vault = await startDevVault(config, { logger: false })
  t.teardown(() => vault.close())
  return vault
}

/** A GET or form POST over https trusting the vault; no Authorization header. */
async function call (vault: DevVault, path: string, form?: Record<string, string>): Promise<{ status: number, body: any }> { // any: tests read the JSON freely
  const body = form !== undefined ? new URLSearchParams(form).toString() : undefined
  return await new Promise((resolve, reject) => {
    const req = request(`${vault.url}${path}`, {
      method: body !== undefined ? 'POST' : 'GET',
      ca: vault.caPem,
      headers: body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}
    }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('discovery names the issuer, its key set and token endpoint, under the URL it was read from, without a token', async (t) => {
  const vault = await start(t, configFor(await tempDir(t)))
  const paths = issuerPaths(vault.issuer.tenant)
  const { status, body } = await call(vault, paths.discovery)
  t.equal(status, 200)
  t.equal(body.issuer, `${vault.url}${paths.issuer}`)
  t.equal(`${body.issuer}/.well-known/openid-configuration`, `${vault.url}${paths.discovery}`, 'discovery lives at <issuer>/.well-known/openid-configuration')
  t.equal(body.jwks_uri, `${vault.url}${paths.jwks}`)
  t.equal(body.token_endpoint, `${vault.url}${paths.token}`)
  t.same(body.id_token_signing_alg_values_supported, ['RS256'])
})

t.test('the key set holds public RSA keys only', async (t) => {
  const vault = await start(t, configFor(await tempDir(t)))
  const { status, body } = await call(vault, issuerPaths(vault.issuer.tenant).jwks)
  t.equal(status, 200)
  t.equal(body.keys.length, 1)
  t.match(body.keys[0], { kty: 'RSA', alg: 'RS256', use: 'sig', kid: vault.issuer.currentKid })
  for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) t.equal(body.keys[0][secret], undefined, `no ${secret}`)
})

t.test('the token endpoint gives an Entra-shaped app token that verifies against the published keys', async (t) => {
  const vault = await start(t, configFor(await tempDir(t)))
  const { token, expiresAt } = await requestDevToken({ tokenEndpoint: vault.issuer.tokenEndpoint, ca: vault.caPem, audience: 'api://codegate', roles: ['Codes.Issue'], clientId: 'caller-app' })
  t.ok(expiresAt > Date.now() + 3000_000)
  const jwks = (await call(vault, issuerPaths(vault.issuer.tenant).jwks)).body
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: vault.issuer.issuer, audience: 'api://codegate', algorithms: ['RS256'] })
  t.match(protectedHeader, { alg: 'RS256', typ: 'JWT', kid: vault.issuer.currentKid })
  t.match(payload, { aud: 'api://codegate', azp: 'caller-app', roles: ['Codes.Issue'], ver: '2.0', idtyp: 'app', tid: vault.issuer.tenant })
  t.equal(payload.exp! - payload.iat!, 3600)
  t.equal(payload.sub, payload.oid)
  const noRoles = await requestDevToken({ tokenEndpoint: vault.issuer.tokenEndpoint, ca: vault.caPem, audience: 'api://codegate', roles: [] })
  t.equal(JSON.parse(Buffer.from(noRoles.token.split('.')[1]!, 'base64url').toString()).roles, undefined, 'no role asked, no roles claim (as Entra ID)')
})

t.test('the token endpoint refuses what the client-credentials flow refuses, with OAuth errors', async (t) => {
  const vault = await start(t, configFor(await tempDir(t)))
  const path = issuerPaths(vault.issuer.tenant).token
  const ok = { grant_type: 'client_credentials', client_id: 'a', scope: 'api://x/.default' }
  const cases: [Record<string, string>, string][] = [
    [{ ...ok, grant_type: 'password' }, 'unsupported_grant_type'],
    [{ ...ok, client_id: '' }, 'invalid_request'],
    [{ ...ok, scope: 'api://x' }, 'invalid_scope'],
    [{ ...ok, scope: '/.default' }, 'invalid_scope'],
    [{ ...ok, scope: 'api://x/.default api://y/.default' }, 'invalid_scope'],
    [{ ...ok, roles: 'Codes.Issue <b>' }, 'invalid_request']
  ]
  for (const [form, error] of cases) {
    const res = await call(vault, path, form)
    t.equal(res.status, 400, JSON.stringify(form))
    t.equal(res.body.error, error)
  }
  t.same(parseTokenRequest({ ...ok, roles: 'A  B' }), { clientId: 'a', audience: 'api://x', roles: ['A', 'B'] })
})

t.test('the signing key is made once, kept 0600 beside the certificate, and reused on restart', async (t) => {
  const dir = await tempDir(t)
  const first = await startDevVault(configFor(dir), { logger: false })
  const kid = first.issuer.currentKid
  const token = (await requestDevToken({ tokenEndpoint: first.issuer.tokenEndpoint, ca: first.caPem, audience: 'api://a', roles: [] })).token
  await first.close()
  t.equal((await stat(join(dir, KEYS_FILE))).mode & 0o777, 0o600)
  const second = await start(t, configFor(dir))
  t.equal(second.issuer.currentKid, kid)
  t.equal(decodeProtectedHeader(token).kid, kid)
  t.match(await readFile(join(dir, KEYS_FILE), 'utf8'), /"d":/, 'the private key is in the file (development only)')
})

t.test('rotation signs with a new kid and keeps the previous key published, persisted', async (t) => {
  const dir = await tempDir(t)
  const vault = await start(t, configFor(dir))
  const first = vault.issuer.currentKid
  const second = await vault.issuer.rotate()
  t.not(second, first)
  t.same(vault.issuer.jwks().keys.map((k) => k.kid), [second, first], 'newest first, the old one still published')
  const third = await vault.issuer.rotate()
  t.same(vault.issuer.jwks().keys.map((k) => k.kid), [third, second], 'two keys at most')
  const stored = JSON.parse(await readFile(join(dir, KEYS_FILE), 'utf8'))
  t.same(stored.keys.map((k: { jwk: { kid: string } }) => k.jwk.kid), [second, third])
})

t.test('the issuer is named by DEV_VAULT_URL when other processes reach dev-vault by another name', async (t) => {
  const vault = await start(t, configFor(await tempDir(t), 'https://dev-vault:8443'))
  t.equal(vault.issuer.issuer, `https://dev-vault:8443/${vault.issuer.tenant}/v2.0`)
  t.equal((await call(vault, issuerPaths(vault.issuer.tenant).discovery)).body.jwks_uri, `https://dev-vault:8443/${vault.issuer.tenant}/discovery/v2.0/keys`)
})
