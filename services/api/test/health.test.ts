import { URL } from 'node:url'
import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, generateAccountSASQueryParameters, StorageSharedKeyCredential
} from '@azure/storage-queue'
import t from 'tap'
import { READINESS_CACHE_MS } from '../src/plugins/app/readiness.js'
import { connectionStringFor, DEV_ACCOUNT, DEV_ACCOUNT_KEY, startHungEndpoint } from '@codegate/stack'
import { appFor, azuriteFor, configFor, drainQueue, insertCode, json, numberApiFor, queuedCount, tableFor, tempDir, vaultFor, hasher, type Parts } from './fixtures/parts.js'

// Every process warning while this file builds and serves apps (see the last test).
const warnings: string[] = []
process.on('warning', (w: Error & { code?: string }) => { warnings.push(`${w.code ?? w.name}: ${w.message}`) })

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }

async function until (what: string, condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('/healthz answers 200 while the process runs, whatever its dependencies do', async (t) => {
  const config = configFor(parts, { keyVaultUrl: 'https://127.0.0.1:9' })
  const { app } = await appFor(t, config, { keyStartWaitMs: 100 })
  const res = await app.inject('/healthz')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('/readyz answers 200 when queue and table answer and the key is loaded', async (t) => {
  const { app } = await appFor(t, configFor(parts))
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ready', checks: { queue: { ok: true }, table: { ok: true }, vault: { ok: true }, pressure: { ok: true } } })
})

t.test('vault down at start: the api starts, readyz and getcode answer 503, and it recovers when the vault comes up', async (t) => {
  // A vault that was there (its certificate and port are known), then went away.
  const certDir = await tempDir(t)
  const gone = await vaultFor(t, { certDir })
  await gone.close()
  const config = configFor({ ...parts, vault: gone })

  const { app, logs } = await appFor(t, config, { keyStartWaitMs: 2000 })

  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { status: 'not_ready', checks: { queue: { ok: true }, table: { ok: true }, vault: { ok: false, reason: /key not loaded/ } } })

  const getcode = await app.inject('/api/v1/getcode')
  t.equal(getcode.statusCode, 503)
  t.equal(getcode.json().error, 'vault_unavailable')
  t.notOk('code' in getcode.json())
  t.equal(await queuedCount(config), 0, 'nothing queued, visible or hidden')
  t.ok(logs.some((l) => l.includes('"event":"key.unavailable"')), 'the failure is logged')

  // Same address, certificate and secrets: the vault is back.
  await vaultFor(t, { certDir, port: Number(new URL(gone.url).port), store: gone.store })
  await until('readyz to turn 200', async () => (await app.inject('/readyz')).statusCode === 200)
  t.ok(logs.some((l) => l.includes('"event":"key.loaded"')), 'the background retry loaded the key')
  const after = await app.inject('/api/v1/getcode')
  t.equal(after.statusCode, 200)
  t.equal((await drainQueue(config)).length, 1)
})

t.test('getcode itself loads the key when the vault is back before the next background retry', async (t) => {
  const certDir = await tempDir(t)
  const gone = await vaultFor(t, { certDir })
  await gone.close()
  const config = configFor({ ...parts, vault: gone })
  const { app } = await appFor(t, config, { keyRetryMs: 600_000, keyRetryMaxMs: 600_000 })
  t.equal((await app.inject('/api/v1/getcode')).statusCode, 503)
  await vaultFor(t, { certDir, port: Number(new URL(gone.url).port), store: gone.store })
  t.equal((await app.inject('/api/v1/getcode')).statusCode, 200)
  t.equal((await app.inject('/readyz')).statusCode, 200)
})

t.test('storage down: getcode and signin answer 503 with a reason and no code, readyz names the queue; all recover', async (t) => {
  const config = configFor(parts)
  const { app } = await appFor(t, config)
  t.equal((await app.inject('/readyz')).statusCode, 200)

  await azurite.pause()
  t.teardown(async () => { if (azurite.pids.length === 0) await azurite.start() })

  const getcode = await app.inject('/api/v1/getcode')
  t.equal(getcode.statusCode, 503)
  t.same(getcode.json(), { error: 'queue_unavailable', message: 'Could not get you a code. Storage is unavailable; try again shortly.' })

  const signin = await app.inject({ method: 'POST', url: '/api/v1/signin', ...json({ code: 'dwn-10-STG' }) })
  t.equal(signin.statusCode, 503)
  t.equal(signin.json().error, 'storage_unavailable')

  // The first probe's answer is reused for READINESS_CACHE_MS; on a fast machine the calls above fit inside it.
  await new Promise((resolve) => setTimeout(resolve, READINESS_CACHE_MS + 100))
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { status: 'not_ready', checks: { queue: { ok: false, reason: /unreachable/ }, table: { ok: false }, vault: { ok: true } } })

  await azurite.start()
  await until('readyz to turn 200', async () => (await app.inject('/readyz')).statusCode === 200)
  const after = await app.inject('/api/v1/getcode')
  t.equal(after.statusCode, 200)
  const messages = await drainQueue(config)
  t.same(messages.map((m) => m.codeHash), [hasher.hash(after.json().code)], 'only the code answered 200 was queued')
  // Azurite flushes tables to disk lazily, so the row is written after the restart.
  await insertCode(await tableFor(config), 'dwn-10-STG')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/signin', ...json({ code: 'dwn-10-STG' }) })).statusCode, 200)
})

t.test('storage down at start: the api starts and creates its queues once storage is back', async (t) => {
  await azurite.pause()
  t.teardown(async () => { if (azurite.pids.length === 0) await azurite.start() })
  const config = configFor(parts)
  const { app, logs } = await appFor(t, config)
  t.ok(logs.some((l) => l.includes('"event":"storage.unavailable"')))
  t.equal((await app.inject('/readyz')).statusCode, 503)

  await azurite.start()
  const res = await app.inject('/api/v1/getcode')
  t.equal(res.statusCode, 200)
  t.equal((await drainQueue(config)).length, 1)
  // Its answer is reused for a second, so it may say 503 a little longer.
  await until('readyz to turn 200', async () => (await app.inject('/readyz')).statusCode === 200)
})

t.test('a queue that accepts connections and never answers: getcode and readyz answer 503 once the storage timeout has run out', async (t) => {
  const hung = await startHungEndpoint()
  t.teardown(() => hung.close())
  const base = configFor(parts, { storageTimeoutMs: 300 })
  const queueName = base.auth.kind === 'connection-string' ? base.auth.queueName : 'unused'
  const config = { ...base, auth: { kind: 'connection-string' as const, connectionString: connectionStringFor('127.0.0.1', hung.port, azurite.tablePort), queueName } }
  const { app } = await appFor(t, config)
  // Without a client-side deadline each call waits for ever: turn that into a failure, not a file timeout.
  const orHang = async <T>(answer: Promise<T>): Promise<T | 'no answer'> => await Promise.race([answer, new Promise<'no answer'>((resolve) => { setTimeout(() => { resolve('no answer') }, 60_000).unref() })])

  const getcode = await orHang(app.inject('/api/v1/getcode'))
  t.not(getcode, 'no answer', 'getcode answers')
  if (getcode === 'no answer') return
  t.equal(getcode.statusCode, 503)
  t.same(getcode.json(), { error: 'queue_unavailable', message: 'Could not get you a code. Storage is unavailable; try again shortly.' })
  t.notOk('code' in getcode.json())
  t.ok(hung.connections > 0, 'the calls reached the hung endpoint')

  const ready = await orHang(app.inject('/readyz'))
  t.not(ready, 'no answer', 'readyz answers')
  if (ready === 'no answer') return
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { status: 'not_ready', checks: { queue: { ok: false }, table: { ok: true } } })
})

t.test('probes are never logged; with logRequests off a getcode and a sign-in write one line each', async (t) => {
  const lines = async (logRequests: boolean): Promise<{ msg: string, url?: string }[]> => {
    const { app, logs } = await appFor(t, configFor(parts, { logRequests }))
    const before = logs.length
    await app.inject('/healthz')
    await app.inject('/readyz')
    const probes = logs.slice(before)
    t.same(probes, [], `logRequests ${String(logRequests)}: no line for a probe`)
    const { code } = (await app.inject('/api/v1/getcode')).json() as { code: string }
    await app.inject({ method: 'POST', url: '/api/v1/signin', payload: { code } })
    return logs.slice(before).map((l) => JSON.parse(l) as { msg: string, req?: { url: string } }).map((l) => ({ msg: l.msg, ...(l.req !== undefined ? { url: l.req.url } : {}) }))
  }
  const quiet = await lines(false)
  t.same(quiet.map((l) => l.msg), ['code issued', 'sign-in refused'], 'one line per code event')
  const chatty = await lines(true)
  t.ok(chatty.filter((l) => l.msg === 'incoming request').length === 2, 'request lines when asked for, for the two api calls only')
})

t.test('/readyz counts a queue that answers 403 (allowed to send, not to read its properties) as reachable', async (t) => {
  const config = configFor(parts)
  await tableFor(config)
  // An account SAS without read: Azurite answers 403 to Get Queue Metadata (and to table reads).
  const key = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_ACCOUNT_KEY)
  const sas = generateAccountSASQueryParameters({
    expiresOn: new Date(Date.now() + 3_600_000),
    permissions: AccountSASPermissions.parse('aup'),
    resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
    services: AccountSASServices.parse('qt').toString()
  }, key).toString()
  const connectionString = `QueueEndpoint=${azurite.queueEndpoint};TableEndpoint=${azurite.tableEndpoint};SharedAccessSignature=${sas}`
  if (config.auth.kind !== 'connection-string') throw new Error('configFor gives a connection string')
  const { app } = await appFor(t, { ...config, auth: { ...config.auth, connectionString } })
  const res = await app.inject('/readyz')
  t.match(res.json(), { checks: { queue: { ok: true }, table: { ok: false, reason: /403/ } } })
})

t.test('building and serving the app warns of nothing deprecated (FSTDEP023: the top-level disableRequestLogging)', async (t) => {
  await appFor(t, configFor(parts, { logRequests: false }))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings.filter((w) => /DEP/.test(w)), [])
})
