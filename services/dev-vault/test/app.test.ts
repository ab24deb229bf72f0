import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import type { GetTokenOptions, TokenCredential } from '@azure/core-auth'
import { SecretClient } from '@azure/keyvault-secrets'
import type { DevVaultConfig } from '../src/config.js'
import { loggerOptions } from '@codegate/shared/logger'
import { readCaPem } from '../src/certificate.js'
import { CHALLENGE, buildDevVault, startDevVault, type DevVault, type DevVaultOptions } from '../src/app.js'

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dev-vault-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function configFor (certDir: string, seed: Record<string, string> = {}): DevVaultConfig {
  return { logLevel: 'silent', host: '127.0.0.1', port: 0, certDir, hostnames: ['localhost', '127.0.0.1'], seed }
}

async function start (t: Test, config: DevVaultConfig, opts: DevVaultOptions = { logger: false }): Promise<DevVault> {
  const vault = await startDevVault(config, opts)
  t.teardown(() => vault.close())
  return vault
}

const tokenRequests: { scopes: string | string[], options: GetTokenOptions | undefined }[] = []
const credential: TokenCredential = {
  getToken: async (scopes, options) => {
    tokenRequests.push({ scopes, options })
    return { token: 'dev', expiresOnTimestamp: Date.now() + 3600_000 }
  }
}

/** `trust: null` gives the client only the system's CAs. */
function clientFor (vault: Pick<DevVault, 'url' | 'caPem'>, trust: string | null = vault.caPem): SecretClient {
  return new SecretClient(vault.url, credential, {
    disableChallengeResourceVerification: true,
    ...(trust !== null ? { tlsOptions: { ca: trust } } : {}),
    // A refused request must fail the test at once, not after the SDK's back-off.
    retryOptions: { maxRetries: 0 }
  })
}

t.test('getSecret returns a seeded secret, through the challenge for the Key Vault resource', async (t) => {
  tokenRequests.length = 0
  const vault = await start(t, configFor(await tempDir(t), { 'third-party-api-key': 's3cret' }))
  t.match(vault.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const secret = await clientFor(vault).getSecret('third-party-api-key')
  t.equal(secret.value, 's3cret')
  t.equal(secret.name, 'third-party-api-key')
  t.match(secret.properties.version, /^[0-9a-f]{32}$/)
  t.equal(secret.properties.vaultUrl, vault.url)
  t.equal(secret.properties.enabled, true)
  t.type(secret.properties.createdOn, Date)
  t.same(tokenRequests[0]?.scopes, ['https://vault.azure.net/.default'], 'the SDK asked for the Key Vault scope')
  t.equal(tokenRequests[0]?.options?.tenantId, '00000000-0000-0000-0000-000000000000', 'with the tenant of the challenge')
})

t.test('setSecret makes a new version; getSecret returns it, and the old one stays readable by version', async (t) => {
  const vault = await start(t, configFor(await tempDir(t), { rotating: 'one' }))
  const client = clientFor(vault)
  const first = await client.getSecret('rotating')
  const set = await client.setSecret('rotating', 'two', { contentType: 'text/plain', tags: { owner: 'tests' } })
  t.equal(set.value, 'two')
  t.not(set.properties.version, first.properties.version)

  const latest = await client.getSecret('rotating')
  t.equal(latest.value, 'two')
  t.equal(latest.properties.version, set.properties.version)
  t.equal(latest.properties.contentType, 'text/plain')
  t.same(latest.properties.tags, { owner: 'tests' })

  const old = await client.getSecret('rotating', { version: first.properties.version as string })
  t.equal(old.value, 'one')

  const versions = []
  for await (const p of client.listPropertiesOfSecretVersions('rotating')) versions.push(p.version)
  t.same(versions.sort(), [first.properties.version, set.properties.version].sort())
})

t.test('an unknown name or version is a RestError 404 SecretNotFound', async (t) => {
  const vault = await start(t, configFor(await tempDir(t), { known: 'v' }))
  const client = clientFor(vault)
  await t.rejects(client.getSecret('missing'), { name: 'RestError', statusCode: 404, code: 'SecretNotFound' })
  await t.rejects(client.getSecret('known', { version: '0123456789abcdef0123456789abcdef' }), { statusCode: 404, code: 'SecretNotFound' })
})

t.test('a name Key Vault would refuse is a 400 BadParameter; 127 characters are allowed', async (t) => {
  const vault = await start(t, configFor(await tempDir(t)))
  const client = clientFor(vault)
  await t.rejects(client.setSecret('bad_name', 'x'), { statusCode: 400, code: 'BadParameter' })
  await t.rejects(client.getSecret('a'.repeat(128)), { statusCode: 400, code: 'BadParameter' })
  const long = 'a'.repeat(127)
  await client.setSecret(long, 'x')
  t.equal((await client.getSecret(long)).value, 'x')
})

t.test('listPropertiesOfSecrets finds every secret, without values', async (t) => {
  const vault = await start(t, configFor(await tempDir(t), { alpha: '1', beta: '2' }))
  const client = clientFor(vault)
  await client.setSecret('gamma', '3')
  const names: string[] = []
  for await (const p of client.listPropertiesOfSecrets()) {
    names.push(p.name)
    t.equal((p as { value?: unknown }).value, undefined)
  }
  // code-hash-key: dev-vault seeds the code hash key at every start.
  t.same(names.sort(), ['alpha', 'beta', 'code-hash-key', 'gamma'])
})

t.test('beginDeleteSecret removes a secret at once', async (t) => {
  const vault = await start(t, configFor(await tempDir(t), { doomed: 'x' }))
  const client = clientFor(vault)
  const poller = await client.beginDeleteSecret('doomed')
  const deleted = await poller.pollUntilDone()
  t.equal(deleted.name, 'doomed')
  await t.rejects(client.getSecret('doomed'), { statusCode: 404, code: 'SecretNotFound' })
})

t.test('a disabled secret cannot be read', async (t) => {
  const vault = await start(t, configFor(await tempDir(t)))
  const client = clientFor(vault)
  await client.setSecret('off', 'x', { enabled: false })
  await t.rejects(client.getSecret('off'), { statusCode: 403, code: 'Forbidden' })
})

t.test('the certificate is reused on restart and still trusted', async (t) => {
  const dir = await tempDir(t)
  const first = await startDevVault(configFor(dir, { kept: 'v' }), { logger: false })
  const firstPem = first.caPem
  await first.close()

  const second = await start(t, configFor(dir, { kept: 'v' }))
  t.equal(second.caPem, firstPem)
  t.equal((await clientFor(second, firstPem).getSecret('kept')).value, 'v')
})

t.test('a certificate that does not name a configured host is replaced', async (t) => {
  const dir = await tempDir(t)
  const first = await startDevVault(configFor(dir), { logger: false })
  await first.close()
  const second = await start(t, { ...configFor(dir), hostnames: ['localhost', '127.0.0.1', 'dev-vault'] })
  t.not(second.caPem, first.caPem)
})

t.test('a client that does not trust the certificate fails the TLS handshake', async (t) => {
  const vault = await start(t, configFor(await tempDir(t), { x: 'v' }))
  const other = await start(t, configFor(await tempDir(t)))
  await t.rejects(clientFor(vault, null).getSecret('x'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'only the system CAs')
  await t.rejects(clientFor(vault, other.caPem).getSecret('x'), { code: /SELF_SIGNED|CERT|SIGNATURE/ }, 'another vault\'s certificate')
})

function rawRequest (vault: DevVault, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number, headers: Record<string, unknown>, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${vault.url}${path}`, { method, headers, ca: vault.caPem }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('a request without a bearer token gets 401 with the Key Vault challenge', async (t) => {
  const vault = await start(t, configFor(await tempDir(t), { x: 'v' }))
  const get = await rawRequest(vault, 'GET', '/secrets/x?api-version=2025-07-01')
  t.equal(get.status, 401)
  t.equal(get.headers['www-authenticate'], CHALLENGE)
  t.match(get.headers['www-authenticate'], /^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[^"]+", resource="https:\/\/vault\.azure\.net"$/)
  t.notMatch(get.body, 'v"')

  const notBearer = await rawRequest(vault, 'GET', '/secrets/x', { authorization: 'Basic dXNlcjpwYXNz' })
  t.equal(notBearer.status, 401)

  const put = await rawRequest(vault, 'PUT', '/secrets/x', { 'content-type': 'application/json' }, '{"value":"changed"}')
  t.equal(put.status, 401)
  const after = await rawRequest(vault, 'GET', '/secrets/x/', { authorization: 'Bearer anything' })
  t.equal(JSON.parse(after.body).value, 'v', 'the unauthenticated PUT changed nothing')
})

t.test('the query is parsed, not string-matched, and a trailing slash is accepted', async (t) => {
  const vault = await start(t, configFor(await tempDir(t), { x: 'v' }))
  const auth = { authorization: 'Bearer dev' }
  for (const path of ['/secrets/x/?api%2Dversion=2025-07-01', '/secrets/x?api-version=7.4', '/secrets/x/', '/secrets?api%2Dversion=2025-07-01']) {
    const res = await rawRequest(vault, 'GET', path, auth)
    t.equal(res.status, 200, path)
  }
  const list = JSON.parse((await rawRequest(vault, 'GET', '/secrets/', auth)).body)
  t.equal(list.nextLink, null)
  t.match(list.value, [{ id: `${vault.url}/secrets/x`, attributes: { enabled: true, recoveryLevel: 'Purgeable' } }])
})

t.test('a PUT body without a string value is a 400 BadParameter', async (t) => {
  const vault = await start(t, configFor(await tempDir(t)))
  const res = await rawRequest(vault, 'PUT', '/secrets/x', { authorization: 'Bearer dev', 'content-type': 'application/json' }, '{"value":42}')
  t.equal(res.status, 400)
  t.match(JSON.parse(res.body), { error: { code: 'BadParameter' } })
})

t.test('GET /healthz answers without a token', async (t) => {
  const vault = await start(t, configFor(await tempDir(t)))
  t.equal((await rawRequest(vault, 'GET', '/healthz')).status, 200)
})

t.test('secret values never reach the logs', async (t) => {
  let logged = ''
  const stream = new Writable({ write (chunk, _enc, done) { logged += String(chunk); done() } })
  const vault = await start(t, configFor(await tempDir(t), { seeded: 'seeded-value-123' }), { logger: { ...loggerOptions('dev-vault', 'trace'), stream } })
  const client = clientFor(vault)
  await client.setSecret('written', 'written-value-456')
  await client.getSecret('written')
  await client.getSecret('seeded')
  t.match(logged, /accepts ANY bearer token/, 'the start-up warning is logged')
  t.match(logged, /secret set/)
  t.notMatch(logged, 'seeded-value-123')
  t.notMatch(logged, 'written-value-456')
})

t.test('buildDevVault gives an app to listen on, its certificate readable with readCaPem', async (t) => {
  const dir = await tempDir(t)
  const app = await buildDevVault(configFor(dir, { x: 'v' }), { logger: false })
  t.teardown(() => app.close())
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const vault = { url, caPem: await readCaPem(dir) }
  t.equal((await clientFor(vault).getSecret('x')).value, 'v')
})

t.test('a seed name Key Vault would refuse stops the start', async (t) => {
  await t.rejects(startDevVault(configFor(await tempDir(t), { bad_name: 'v' }), { logger: false }), { code: 'DEV_VAULT_BAD_SEED' })
})

t.test('a route outside the secrets API is a 404 in Key Vault\'s error shape', async (t) => {
  const vault = await start(t, configFor(await tempDir(t)))
  const res = await rawRequest(vault, 'GET', '/keys/x?api-version=7.4', { authorization: 'Bearer dev' })
  t.equal(res.status, 404)
  t.match(JSON.parse(res.body), { error: { code: 'NotFound' } })
})

t.test('a warning is logged when the certificate does not name the listening host', async (t) => {
  let logged = ''
  const stream = new Writable({ write (chunk, _enc, done) { logged += String(chunk); done() } })
  await start(t, { ...configFor(await tempDir(t)), hostnames: ['localhost'] }, { logger: { ...loggerOptions('dev-vault', 'warn'), stream } })
  t.match(logged, /does not name the listening host/)
})
