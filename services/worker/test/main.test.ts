/**
 * The worker process (dist/main.js, so build first) against real Azurite:
 * killed mid-batch, stopped with SIGTERM, started with bad config.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { connectionStringFor, startAzurite } from '@codegate/stack'
import { startWorker } from '../src/index.js'
import {
  captureLogger,
  freshNames,
  presentCodes,
  queueLength,
  sendActivates,
  slowProxy,
  storageFor,
  waitFor,
  workerConfig,
  workerEnv,
  type LogLine
} from './fixtures/helpers.js'

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url))

const azurite = await startAzurite()
t.teardown(async () => { await azurite.stop() })

interface Running {
  child: ChildProcess
  lines: LogLine[]
  output: () => string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

function spawnWorker (env: Record<string, string>): Running {
  // Only what the test sets: a CI runner's own STORAGE_* must not leak in.
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: LogLine[] = []
  let text = ''
  let partial = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString()
    const parts = (partial + chunk.toString()).split('\n')
    partial = parts.pop() ?? ''
    for (const part of parts) {
      try { lines.push(JSON.parse(part) as LogLine) } catch { /* not a log line */ }
    }
  })
  child.stderr?.on('data', (chunk: Buffer) => { text += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { resolve({ code, signal }) })
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return { child, lines, output: () => text, exited }
}

const finishedIds = (lines: LogLine[]): Set<string> => new Set(lines
  .filter((l) => ['code.activated', 'code.dropped', 'code.expired', 'code.requeued', 'message.poisoned', 'message.failed'].includes(l.msg))
  .map((l) => String(l.messageId)))

t.test('killed with SIGKILL mid-batch and restarted, every code still ends active and then expired', async (t) => {
  const names = freshNames()
  const config = workerConfig(azurite.connectionString, names)
  const { queues, table } = await storageFor(config)
  const ttlMs = 30_000
  const codes = await sendActivates(queues, 150, ttlMs)
  const base = workerEnv(azurite.connectionString, names, { WORKER_VISIBILITY_TIMEOUT_SECONDS: '2', LOG_LEVEL: 'debug' })

  // The first process sees a slow table (1 s a request), so the kill lands while messages are being handled.
  const proxy = await slowProxy({ host: '127.0.0.1', port: azurite.tablePort }, 1000)
  t.teardown(proxy.close)
  const first = spawnWorker({ ...base, STORAGE_CONNECTION_STRING: connectionStringFor('127.0.0.1', azurite.queuePort, proxy.port) })
  await waitFor('the first worker to receive a batch', () => first.lines.some((l) => l.msg === 'message.received'), 60_000, 10)
  first.child.kill('SIGKILL')
  t.match(await first.exited, { signal: 'SIGKILL' })
  const received = new Set(first.lines.filter((l) => l.msg === 'message.received').map((l) => String(l.messageId)))
  const unfinished = [...received].filter((id) => !finishedIds(first.lines).has(id))
  t.ok(unfinished.length > 0, `killed with ${unfinished.length} of ${received.size} received messages unfinished`)

  const second = spawnWorker(base)
  const seen = new Set<string>()
  await waitFor('every code to have been valid', async () => {
    for (const code of await presentCodes(table, codes)) seen.add(code)
    return seen.size === codes.length
  }, ttlMs, 200)
  t.equal(seen.size, codes.length, 'every code became valid')
  await waitFor('every code to be gone and the queue empty', async () =>
    (await presentCodes(table, codes)).size === 0 && (await queueLength(queues)) === 0, ttlMs + 60_000, 500)
  t.equal(await queueLength(queues, 'poison'), 0, 'nothing poisoned')
  for (const id of unfinished) {
    t.ok(second.lines.some((l) => l.messageId === id && l.msg === 'code.expired'), `interrupted message ${id.slice(0, 8)} ended expired`)
  }

  second.child.kill('SIGTERM')
  t.match(await second.exited, { code: 0 })
})

t.test('SIGTERM stops polling, lets messages in flight finish, and exits 0; the rest waits in the queue', async (t) => {
  const names = freshNames()
  const config = workerConfig(azurite.connectionString, names)
  const { queues, table } = await storageFor(config)
  const codes = await sendActivates(queues, 60, 120_000)
  // Slow table (700 ms a request): a batch is surely in flight when the signal comes.
  const proxy = await slowProxy({ host: '127.0.0.1', port: azurite.tablePort }, 700)
  t.teardown(proxy.close)
  const worker = spawnWorker(workerEnv(connectionStringFor('127.0.0.1', azurite.queuePort, proxy.port), names, {
    LOG_LEVEL: 'debug',
    WORKER_BATCH_SIZE: '16',
    WORKER_MAX_IN_FLIGHT: '16'
  }))
  const listening = await waitFor('the probe endpoint', () => worker.lines.find((l) => l.msg === 'health.listening'))
  t.equal((await fetch(`http://127.0.0.1:${String(listening.port)}/healthz`)).status, 200)
  await waitFor('a batch in flight', () => worker.lines.some((l) => l.msg === 'message.received'), 60_000, 10)

  worker.child.kill('SIGTERM')
  t.match(await worker.exited, { code: 0, signal: null })
  const stopping = worker.lines.find((l) => l.msg === 'worker.stopping')
  t.ok(Number(stopping?.inFlight) > 0, `${String(stopping?.inFlight)} messages in flight at the signal`)
  t.match(worker.lines.find((l) => l.msg === 'worker.stopped'), { drained: true, abandoned: 0 })
  const received = worker.lines.filter((l) => l.msg === 'message.received').map((l) => String(l.messageId))
  const finished = finishedIds(worker.lines)
  t.same(received.filter((id) => !finished.has(id)), [], 'every message received was finished')
  t.ok(received.length < codes.length, 'polling stopped before the queue was drained')

  // None lost: the next worker activates every code.
  const next = await startWorker(config, { logger: captureLogger().log })
  t.teardown(next.close)
  await waitFor('every code valid', async () => (await presentCodes(table, codes)).size === codes.length, 60_000, 250)
})

t.test('a second signal exits at once, without waiting for messages in flight', async (t) => {
  const names = freshNames()
  const { queues } = await storageFor(workerConfig(azurite.connectionString, names))
  const proxy = await slowProxy({ host: '127.0.0.1', port: azurite.tablePort }, 0)
  t.teardown(proxy.close)
  const worker = spawnWorker(workerEnv(connectionStringFor('127.0.0.1', azurite.queuePort, proxy.port), names, {
    LOG_LEVEL: 'debug',
    WORKER_SHUTDOWN_TIMEOUT_MS: '60000',
    STORAGE_TIMEOUT_MS: '60000'
  }))
  await waitFor('the worker to start', () => worker.lines.some((l) => l.msg === 'worker.started'))
  proxy.setDelay(60_000) // the drain would take a minute
  await sendActivates(queues, 5, 120_000)
  await waitFor('a batch in flight', () => worker.lines.some((l) => l.msg === 'message.received'), 60_000, 10)
  worker.child.kill('SIGINT')
  await waitFor('the first signal to be taken', () => worker.lines.some((l) => l.msg === 'worker.stopping'))
  worker.child.kill('SIGTERM')
  t.match(await worker.exited, { code: 128 + 15 })
  t.ok(worker.lines.some((l) => l.msg === 'worker.killed'))
  t.notOk(worker.lines.some((l) => l.msg === 'worker.stopped'), 'did not wait for the drain')
})

t.test('bad configuration: exit 1 with a message naming the variable', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{}, 'STORAGE_QUEUE_URL'],
    [{ STORAGE_CONNECTION_STRING: azurite.connectionString, WORKER_BATCH_SIZE: '33' }, 'WORKER_BATCH_SIZE'],
    [{ STORAGE_CONNECTION_STRING: azurite.connectionString, WORKER_MAX_BACKOFF_MS: 'soon' }, 'WORKER_MAX_BACKOFF_MS'],
    [{ STORAGE_CONNECTION_STRING: azurite.connectionString, STORAGE_QUEUE_NAME: 'Bad_Name' }, 'STORAGE_QUEUE_NAME']
  ]
  for (const [env, variable] of cases) {
    const worker = spawnWorker(env)
    t.match(await worker.exited, { code: 1 }, variable)
    t.match(worker.output(), variable)
    t.match(worker.lines.find((l) => l.msg.startsWith('Invalid configuration')), { level: 60, variables: [variable] })
  }
})
