/**
 * Storage transactions per code over its whole life (issue, activate,
 * expire) for each worker, counted at the benchmark's proxy in front of
 * Azurite (bench/src/counting-proxy.ts), which sees every request of the
 * api, the worker and, for the functions, the host's listener stand-in.
 * 32 codes, each worker finding all of them visible at once: full receives,
 * the case the container worker's 5 + 2/32 describes.
 */
import t from 'tap'
import type { WorkerConfig } from '@codegate/worker/config'
import { connectionStringFor } from '@codegate/stack'
import { startWorker } from '@codegate/worker'
import { diff, startCountingProxy, transactions, type Counts } from '../../../bench/src/counting-proxy.js'
import { azuriteFor, configFor, functionsFor, numberApiFor, vaultFor, type Parts } from './fixtures/parts.js'
import { invocation, queueLength, request } from './fixtures/host.js'

const parts: Parts = { azurite: await azuriteFor(t), vault: await vaultFor(t), numberApi: await numberApiFor(t) }
const proxy = await startCountingProxy({ queuePort: parts.azurite.queuePort, tablePort: parts.azurite.tablePort })
t.teardown(() => proxy.close())

const CODES = 32
const TTL_SECONDS = 4
/**
 * Long: a table call is bounded as a whole by STORAGE_TIMEOUT_MS, and on a
 * busy machine 32 inserts at once through the proxy can take longer than the
 * fixtures' 2 s; each timeout is a retry, and a retry is a transaction this
 * count must not see.
 */
const STORAGE_TIMEOUT_MS = 30_000
/**
 * The clock of api and workers: held at the start while the codes are issued
 * and activated, so that on a busy machine no code is late for its own
 * activation; then real, so the expires (visible TTL seconds after they
 * were sent) find their codes expired.
 */
let held: Date | undefined
const now = (): Date => held ?? new Date()
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Counts without set-up (queue and table creation) and without empty receives (idle polling, not a cost of codes). */
function perCode (counts: Counts): { byOperation: Counts, perCode: number } {
  const byOperation: Counts = {}
  for (const [op, n] of Object.entries(counts)) {
    if (/^(queue\.create|table\.create-table)/.test(op) || op.includes(':')) continue
    byOperation[op] = n
  }
  byOperation['queue.receive'] = (byOperation['queue.receive'] ?? 0) - (counts['queue.receive:empty'] ?? 0)
  return { byOperation, perCode: transactions(byOperation) / CODES }
}

async function setup (): Promise<Awaited<ReturnType<typeof functionsFor>>> {
  const config = configFor(parts, { codeTtlSeconds: TTL_SECONDS, storageTimeoutMs: STORAGE_TIMEOUT_MS })
  const viaProxy = { ...config, auth: { kind: 'connection-string' as const, connectionString: connectionStringFor('127.0.0.1', proxy.queuePort, proxy.tablePort), queueName: config.auth.kind === 'connection-string' ? config.auth.queueName : 'unused' } }
  return await functionsFor(viaProxy, { now })
}

async function issue (fn: Awaited<ReturnType<typeof functionsFor>>): Promise<void> {
  for (let i = 0; i < CODES; i++) {
    const response = await fn.fns.getcode(request({}), invocation('getcode'))
    if (response.status !== 200) throw new Error(`getcode answered ${response.status}`)
  }
}

t.test('the function worker: 6 + 2/32 per code, one more than the container worker (a send and a delete instead of an update)', async (t) => {
  const fn = await setup()
  await fn.fns.worker('warm-up: ensureStorage runs once per instance', invocation('worker', { dequeueCount: 1 })).catch(() => {})
  await fn.fns.queues.poison.clearMessages()
  const before = proxy.snapshot()
  held = new Date()
  await issue(fn)
  t.match(await fn.listener.pollOnce(), { received: CODES, succeeded: CODES })
  held = undefined
  await sleep((TTL_SECONDS + 2) * 1000)
  t.match(await fn.listener.pollOnce(), { received: CODES, succeeded: CODES })
  const { byOperation, perCode: figure } = perCode(diff(proxy.snapshot(), before))
  t.equal(await queueLength(fn.fns.queues), 0)
  t.same(byOperation, {
    'queue.send': 2 * CODES, // the api's activate, the function's expire
    'queue.receive': 2,
    'table.insert': CODES,
    'queue.delete-message': 2 * CODES, // the host deletes each trigger message
    'table.delete': CODES
  })
  t.equal(figure, 6 + 2 / 32)
  t.comment(`functions: ${figure} transactions per code ${JSON.stringify(byOperation)}`)
})

t.test('the container worker in the same run: 5 + 2/32 per code', async (t) => {
  const fn = await setup()
  const base = fn.fns
  const config: WorkerConfig = {
    logLevel: 'silent',
    metricsEnabled: false,
    auth: { kind: 'connection-string', connectionString: connectionStringFor('127.0.0.1', proxy.queuePort, proxy.tablePort), queueName: base.queueName },
    tableName: base.codesTable.client.tableName,
    messageEncoding: 'base64',
    codeTtlSeconds: TTL_SECONDS,
    storageTimeoutMs: STORAGE_TIMEOUT_MS,
    credential: 'dev',
    batchSize: 32,
    maxInFlight: 64,
    // Longer than a receive's handling can take here: a message shown again mid-handling is handled twice, and counted twice.
    visibilityTimeoutSeconds: 30,
    maxBackoffMs: 1000,
    maxDequeueCount: 5,
    shutdownTimeoutMs: 2000,
    healthHost: '127.0.0.1',
    healthPort: 0,
    summaryIntervalSeconds: 60
  }
  const before = proxy.snapshot()
  held = new Date()
  await issue(fn)
  let worker = await startWorker(config, { now })
  t.teardown(() => worker.close())
  while (worker.stats.activated < CODES) await sleep(20)
  await worker.close()
  held = undefined
  await sleep((TTL_SECONDS + 2) * 1000)
  worker = await startWorker(config, { now })
  while (worker.stats.expired < CODES) await sleep(20)
  await worker.close()
  const { byOperation, perCode: figure } = perCode(diff(proxy.snapshot(), before))
  t.same(byOperation, {
    'queue.send': CODES,
    'queue.receive': 2,
    'table.insert': CODES,
    'queue.update': CODES, // the activate rewritten into the expire
    'queue.delete-message': CODES,
    'table.delete': CODES
  })
  t.equal(figure, 5 + 2 / 32)
  t.comment(`container worker: ${figure} transactions per code ${JSON.stringify(byOperation)}`)
})
