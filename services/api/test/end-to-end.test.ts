/**
 * getcode → worker → signin with every real part: Azurite, dev-vault,
 * number-api, the api and the worker (in process), over real sockets: the
 * api listens on 127.0.0.1 and is called with fetch.
 */
import t, { type Test } from 'tap'
import pino from 'pino'
import type { WorkerConfig } from '@codegate/worker/config'
import type { ApiConfig } from '../src/config.js'
import { startWorker } from '@codegate/worker'
import { createTableClient } from '@codegate/shared/clients'
import { CodesTable } from '@codegate/shared/codes-table'
import { appFor, azuriteFor, configFor, hasher, numberApiFor, vaultFor, workerConfigFor, type Parts } from './fixtures/parts.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }


const table = (config: ApiConfig): CodesTable => new CodesTable(createTableClient(config))

/** Polls the table until the worker has activated `code`. */
async function rowWithin (config: ApiConfig, code: string, boundMs: number): Promise<boolean> {
  const deadline = Date.now() + boundMs
  while (Date.now() < deadline) {
    if (await table(config).get(hasher.hash(code)).catch(() => undefined) !== undefined) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return false
}

/** The api listening on a free loopback port; its base URL. */
async function listening (t: Test, config: ApiConfig): Promise<string> {
  const { app } = await appFor(t, config)
  return await app.listen({ host: '127.0.0.1', port: 0 })
}

async function getCode (api: string, query = ''): Promise<{ status: number, code: string }> {
  const res = await fetch(`${api}/api/v1/getcode${query}`)
  const body = await res.json() as { code?: string }
  return { status: res.status, code: body.code ?? '' }
}

async function signIn (api: string, code: string, subject?: string): Promise<number> {
  const res = await fetch(`${api}/api/v1/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code, ...(subject !== undefined ? { subject } : {}) })
  })
  await res.arrayBuffer()
  return res.status
}

/** Polls sign-in until it passes or `boundMs` is over; returns the time it took. */
async function signInWithin (api: string, code: string, boundMs: number, subject?: string): Promise<number | undefined> {
  const start = Date.now()
  while (Date.now() - start < boundMs) {
    if (await signIn(api, code, subject) === 200) return Date.now() - start
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return undefined
}

/**
 * How long an idle worker may take to activate a code: its longest idle wait,
 * then a receive and an insert, each bounded by the storage timeout.
 */
const activationBoundMs = (worker: WorkerConfig): number => worker.maxBackoffMs + 2 * worker.storageTimeoutMs

t.test('an issued code becomes valid within the worker bound, signs in once, then is refused', async (t) => {
  const config = configFor(parts)
  const api = await listening(t, config)
  const workerConfig = workerConfigFor(config)
  const worker = await startWorker(workerConfig, { logger: pino({ level: 'silent' }) })
  t.teardown(() => worker.close())

  const issued = await getCode(api)
  t.equal(issued.status, 200)
  const bound = activationBoundMs(workerConfig)
  const took = await signInWithin(api, issued.code, bound)
  t.ok(took !== undefined, `approved after ${String(took)} ms (bound ${bound} ms)`)
  t.equal(await signIn(api, issued.code), 401, 'a second sign-in with the same code is refused')
})

t.test('a code bound to a subject signs in only for that subject', async (t) => {
  const config = configFor(parts)
  const api = await listening(t, config)
  const workerConfig = workerConfigFor(config)
  const worker = await startWorker(workerConfig, { logger: pino({ level: 'silent' }) })
  t.teardown(() => worker.close())

  const { code } = await getCode(api, '?subject=alice')
  t.ok(await rowWithin(config, code, activationBoundMs(workerConfig)), 'activated')
  t.equal(await signIn(api, code, 'bob'), 401, 'another subject is refused')
  t.equal(await signIn(api, code), 401, 'no subject is refused')
  t.equal(await signIn(api, code, 'alice'), 200, 'the subject it was issued for gets in')
})

t.test('an expired code is refused even with the worker stopped', async (t) => {
  // The api's clock is the test's: the code expires when the test says, not after a sleep.
  let now = Date.now()
  const config = configFor(parts, { codeTtlSeconds: 60 })
  const { app } = await appFor(t, config, { now: () => new Date(now) })
  const api = await app.listen({ host: '127.0.0.1', port: 0 })
  const workerConfig = workerConfigFor(config)
  const worker = await startWorker(workerConfig, { logger: pino({ level: 'silent' }) })
  const { code } = await getCode(api)
  t.ok(await rowWithin(config, code, activationBoundMs(workerConfig)), 'activated while the worker runs')
  await worker.close()
  // No worker is left to delete the row: only the expiry stored in it can refuse the code.
  now += 60_000
  t.ok(await table(config).get(hasher.hash(code)), 'the row is still there')
  t.equal(await signIn(api, code), 401)
})
