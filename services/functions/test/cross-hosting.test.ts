/**
 * Both hostings on one queue and one table, as during a move from one to
 * the other or with both deployed: codes issued by either api are activated
 * by either worker, signed in by either api, and expired by either worker
 * (a container-rewritten expire read by the function and a function-sent
 * expire read by the container worker).
 */
import t, { type Test } from 'tap'
import type { ApiConfig } from '@codegate/api/config'
import type { WorkerConfig } from '@codegate/worker/config'
import { startWorker } from '@codegate/worker'
import { appFor } from '../../api/test/fixtures/parts.js'
import { azuriteFor, configFor, functionsFor, hasher, numberApiFor, vaultFor, type Parts } from './fixtures/parts.js'
import { invocation, jsonRequest, queueLength, request } from './fixtures/host.js'

const parts: Parts = { azurite: await azuriteFor(t), vault: await vaultFor(t), numberApi: await numberApiFor(t) }

/**
 * The clock of both apis and both workers: held while codes are issued and
 * activated, so that on a busy machine no code is late for its own
 * activation (a container worker's start alone can outlast the 6 s TTL);
 * then real, so the expires find their codes expired.
 */
let held: Date | undefined
const now = (): Date => held ?? new Date()

function workerConfigOf (config: ApiConfig): WorkerConfig {
  return {
    logLevel: 'silent',
    metricsEnabled: false,
    auth: config.auth,
    tableName: config.tableName,
    messageEncoding: config.messageEncoding,
    codeTtlSeconds: config.codeTtlSeconds,
    storageTimeoutMs: config.storageTimeoutMs,
    credential: 'dev',
    // The same code hash key as both apis: the vault's, as deployed.
    codeHashVault: { keyVaultUrl: config.keyVaultUrl, ...(config.keyVaultCaFile !== undefined ? { keyVaultCaFile: config.keyVaultCaFile } : {}), ...config.codeHash },
    batchSize: 32,
    maxInFlight: 64,
    visibilityTimeoutSeconds: 1,
    maxBackoffMs: 100,
    maxDequeueCount: 5,
    shutdownTimeoutMs: 2000,
    healthHost: '127.0.0.1',
    healthPort: 0,
    summaryIntervalSeconds: 60
  }
}

async function waitFor (what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function setup (t: Test): Promise<{ config: ApiConfig, api: Awaited<ReturnType<typeof appFor>>['app'], fn: Awaited<ReturnType<typeof functionsFor>> }> {
  const config = configFor(parts, { codeTtlSeconds: 6 })
  t.teardown(() => { held = undefined })
  const { app } = await appFor(t, config, { now })
  return { config, api: app, fn: await functionsFor(config, { now }) }
}

async function issueBoth (api: Awaited<ReturnType<typeof setup>>['api'], fn: Awaited<ReturnType<typeof setup>>['fn']): Promise<{ byFunction: string, byApi: string }> {
  const a = await fn.fns.getcode(request({ url: 'http://127.0.0.1/api/v1/getcode?subject=frank' }), invocation('getcode'))
  const b = await api.inject('/api/v1/getcode?subject=grace')
  return { byFunction: (a.jsonBody as { code: string }).code, byApi: (b.json() as { code: string }).code }
}

t.test('the container worker activates codes from both apis; each api signs in the other\'s code; the function expires them', async (t) => {
  const { config, api, fn } = await setup(t)
  held = new Date()
  const { byFunction, byApi } = await issueBoth(api, fn)
  const worker = await startWorker(workerConfigOf(config), { now })
  t.teardown(worker.close)
  await waitFor('both activations', async () => worker.stats.activated === 2)
  await worker.close()

  const viaApi = await api.inject({ method: 'POST', url: '/api/v1/signin', payload: { code: byFunction, subject: 'frank' } })
  t.equal(viaApi.statusCode, 200, 'the function\'s code signs in at the Fastify api')
  const viaFunction = await fn.fns.signin(jsonRequest({ code: byApi, subject: 'grace' }), invocation('signin'))
  t.equal(viaFunction.status, 200, 'the Fastify api\'s code signs in at the function')
  held = undefined

  // The container worker rewrote both messages into expires (marked with its receive); the function reads them.
  await fn.listener.runUntil('both rows gone', async () => await fn.fns.codesTable.get(hasher.hash(byFunction)) === undefined && await fn.fns.codesTable.get(hasher.hash(byApi)) === undefined)
  t.equal(await queueLength(fn.fns.queues), 0)
  t.equal(await queueLength(fn.fns.queues, 'poison'), 0)
  t.equal(fn.logs.filter((l) => l.includes('"msg":"code.expired"') && l.includes('"dequeueCount":2')).length, 2, 'each expire was the message\'s second receive, its first try as an expire')
})

t.test('the function activates codes from both apis; each api signs in the other\'s code; the container worker expires them', async (t) => {
  const { config, api, fn } = await setup(t)
  held = new Date()
  const { byFunction, byApi } = await issueBoth(api, fn)
  t.match(await fn.listener.pollOnce(), { received: 2, succeeded: 2 })

  const viaApi = await api.inject({ method: 'POST', url: '/api/v1/signin', payload: { code: byFunction, subject: 'frank' } })
  t.equal(viaApi.statusCode, 200)
  const viaFunction = await fn.fns.signin(jsonRequest({ code: byApi, subject: 'grace' }), invocation('signin'))
  t.equal(viaFunction.status, 200)

  held = undefined
  const worker = await startWorker(workerConfigOf(config), { now })
  t.teardown(worker.close)
  await waitFor('both expires', async () => worker.stats.expired === 2)
  t.equal(await fn.fns.codesTable.get(hasher.hash(byFunction)), undefined)
  t.equal(await fn.fns.codesTable.get(hasher.hash(byApi)), undefined)
  t.equal(worker.stats.poisoned, 0)
  await worker.close()
  t.equal(await queueLength(fn.fns.queues), 0)
})
