/**
 * getcode → worker → signin with every real part: Azurite, dev-vault,
 * number-api, the api and the worker (in process), over real sockets.
 */
import t from 'tap'
import pino from 'pino'
import type { ApiConfig, WorkerConfig } from '@codegate/shared/config'
import { startWorker } from '@codegate/worker'
import { createTableClient } from '@codegate/shared/clients'
import { CodesTable } from '@codegate/shared/codes-table'
import { appFor, azuriteFor, configFor, numberApiFor, vaultFor, type Parts } from './fixtures/parts.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }

function workerConfigFor (api: ApiConfig): WorkerConfig {
  return {
    logLevel: 'silent',
    auth: api.auth,
    tableName: api.tableName,
    messageEncoding: api.messageEncoding,
    codeTtlSeconds: api.codeTtlSeconds,
    storageTimeoutMs: api.storageTimeoutMs,
    credential: 'dev',
    batchSize: 32,
    maxInFlight: 64,
    visibilityTimeoutSeconds: 30,
    maxBackoffMs: 1000,
    maxDequeueCount: 5,
    shutdownTimeoutMs: 5000,
    healthHost: '127.0.0.1',
    healthPort: 0,
    summaryIntervalSeconds: 60
  }
}

const table = (config: ApiConfig): CodesTable => new CodesTable(createTableClient(config))

/** Polls the table until the worker has activated `code`. */
async function rowWithin (config: ApiConfig, code: string, boundMs: number): Promise<boolean> {
  const deadline = Date.now() + boundMs
  while (Date.now() < deadline) {
    if (await table(config).get(code).catch(() => undefined) !== undefined) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return false
}

async function signIn (app: Awaited<ReturnType<typeof appFor>>['app'], code: string, subject?: string): Promise<number> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/signin', payload: { code, ...(subject !== undefined ? { subject } : {}) } })
  return res.statusCode
}

/** Polls sign-in until it passes or `boundMs` is over; returns the time it took. */
async function signInWithin (app: Awaited<ReturnType<typeof appFor>>['app'], code: string, boundMs: number, subject?: string): Promise<number | undefined> {
  const start = Date.now()
  while (Date.now() - start < boundMs) {
    if (await signIn(app, code, subject) === 200) return Date.now() - start
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return undefined
}

t.test('an issued code becomes valid within the worker bound, signs in once, then is refused', async (t) => {
  const config = configFor(parts)
  const { app } = await appFor(t, config)
  const worker = await startWorker(workerConfigFor(config), { logger: pino({ level: 'silent' }) })
  t.teardown(() => worker.close())

  const issued = await app.inject('/api/v1/getcode')
  t.equal(issued.statusCode, 200)
  const { code } = issued.json()
  // The worker polls at least every second when idle; 5 s leaves room for a loaded CI machine.
  const took = await signInWithin(app, code, 5000)
  t.ok(took !== undefined, `approved after ${String(took)} ms`)
  t.equal(await signIn(app, code), 401, 'a second sign-in with the same code is refused')
})

t.test('a code bound to a subject signs in only for that subject', async (t) => {
  const config = configFor(parts)
  const { app } = await appFor(t, config)
  const worker = await startWorker(workerConfigFor(config), { logger: pino({ level: 'silent' }) })
  t.teardown(() => worker.close())

  const { code } = (await app.inject('/api/v1/getcode?subject=alice')).json()
  t.ok(await rowWithin(config, code, 5000), 'activated')
  t.equal(await signIn(app, code, 'bob'), 401, 'another subject is refused')
  t.equal(await signIn(app, code), 401, 'no subject is refused')
  t.equal(await signIn(app, code, 'alice'), 200, 'the subject it was issued for gets in')
})

t.test('an expired code is refused even with the worker stopped', async (t) => {
  const config = configFor(parts, { codeTtlSeconds: 3 })
  const { app } = await appFor(t, config)
  const worker = await startWorker(workerConfigFor(config), { logger: pino({ level: 'silent' }) })
  const { code } = (await app.inject('/api/v1/getcode')).json()
  t.ok(await rowWithin(config, code, 2500), 'activated while the worker runs')
  await worker.close()
  // No worker is left to delete the row: only the expiry stored in it can refuse the code.
  await new Promise((resolve) => setTimeout(resolve, 3100))
  t.ok(await table(config).get(code), 'the row is still there')
  t.equal(await signIn(app, code), 401)
})
