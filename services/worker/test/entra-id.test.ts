/**
 * The production credential path, run here: the worker process with only
 * STORAGE_QUEUE_URL / STORAGE_TABLE_URL (no key, no connection string) and
 * AZURE_CREDENTIAL=default, against Azurite in OAuth mode over https. Entra ID
 * itself cannot run here, so a local managed-identity endpoint (the App
 * Service protocol DefaultAzureCredential speaks) hands out the token: an
 * unsigned JWT with the claims Azurite checks (emulators.md).
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureCertificate } from '@codegate/dev-vault'
import { DEV_ACCOUNT, freePort, httpGet, startAzurite } from '@codegate/stack'

const base64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')

function jwt (audience: string): string {
  const now = Math.floor(Date.now() / 1000)
  const claims = { aud: audience, iss: 'https://sts.windows.net/00000000-0000-0000-0000-000000000000/', iat: now, nbf: now, exp: now + 3600, oid: '11111111-1111-1111-1111-111111111111', tid: '00000000-0000-0000-0000-000000000000' }
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`
}

const dir = await mkdtemp(join(tmpdir(), 'codegate-entra-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const tls = await ensureCertificate(dir, ['127.0.0.1', 'localhost'])
const azurite = await startAzurite({ args: ['--oauth', 'basic', '--cert', tls.certFile, '--key', tls.keyFile] })
t.teardown(() => azurite.stop())

/** A stand-in for the managed identity endpoint; `audience` is what its tokens claim. */
async function identityEndpoint (audience: string): Promise<{ url: string, requests: string[] }> {
  const requests: string[] = []
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    requests.push(url.searchParams.get('resource') ?? '')
    if (req.headers['x-identity-header'] !== 'local-secret') { res.writeHead(401).end(); return }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      access_token: jwt(audience),
      expires_on: String(Math.floor(Date.now() / 1000) + 3600),
      resource: url.searchParams.get('resource'),
      token_type: 'Bearer'
    }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`, requests }
}

async function runWorker (t: Test, audience: string, waitMs: number): Promise<{ ready: boolean, identity: { requests: string[] }, output: () => string }> {
  const identity = await identityEndpoint(audience)
  const healthPort = await freePort()
  const worker = spawn(process.execPath, [fileURLToPath(new URL('../dist/main.js', import.meta.url))], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_EXTRA_CA_CERTS: tls.certFile,
      IDENTITY_ENDPOINT: identity.url,
      IDENTITY_HEADER: 'local-secret',
      AZURE_CREDENTIAL: 'default',
      STORAGE_QUEUE_URL: `https://127.0.0.1:${azurite.queuePort}/${DEV_ACCOUNT}/entra-${healthPort}`,
      STORAGE_TABLE_URL: `https://127.0.0.1:${azurite.tablePort}/${DEV_ACCOUNT}`,
      CODES_TABLE_NAME: `entra${healthPort}`,
      WORKER_HEALTH_PORT: String(healthPort),
      LOG_LEVEL: 'warn'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  worker.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  worker.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise((resolve) => worker.once('exit', resolve))
  t.teardown(async () => { worker.kill('SIGTERM'); await exited })
  let ready = false
  const deadline = Date.now() + waitMs
  while (!ready && Date.now() < deadline) {
    const res = await httpGet(`http://127.0.0.1:${healthPort}/readyz`)
    ready = !(res instanceof Error) && res.status === 200
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return { ready, identity, output: () => output }
}

t.test('with a managed identity token the worker creates its queues and table and polls', async (t) => {
  const { ready, identity, output } = await runWorker(t, 'https://storage.azure.com', 30_000)
  t.ok(ready, 'ready: queue, poison queue and table made and polled with bearer tokens')
  if (!ready) t.comment(output().slice(-2000))
  t.ok(identity.requests.length > 0 && identity.requests.every((r) => r === 'https://storage.azure.com'), 'it asked the identity endpoint for storage tokens only')
})

t.test('a token for another audience is refused, and the worker is not ready', async (t) => {
  const { ready, output } = await runWorker(t, 'https://vault.azure.net', 8_000)
  t.notOk(ready)
  // On a loaded machine the first refusal can come after the readiness wait: wait for it, not for a fixed time.
  const deadline = Date.now() + 60_000
  // A 403 on create is not fatal (least-privilege roles may not create), so the refusal shows at setup or at the first poll.
  const failed = /worker\.setup\.failed|poll\.failed/
  while (!failed.test(output()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
  t.match(output(), /Invalid token audience/, 'Azurite checked the token and said why it refused it')
  t.match(output(), failed, 'the worker logs the failure and keeps trying')
})
