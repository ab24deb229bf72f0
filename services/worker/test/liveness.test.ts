/**
 * /healthz follows the poll loop: a loop that stops making progress fails
 * the liveness probe so the platform restarts the container. The storage
 * here is real Azurite behind a proxy that can stop passing anything on.
 */
import t from 'tap'
import { connectionStringFor, startAzurite } from '@codegate/stack'
import { startWorker } from '../src/index.js'
import { captureLogger, freshNames, slowProxy, waitFor, workerConfig } from './fixtures/helpers.js'

const azurite = await startAzurite()
t.teardown(async () => { await azurite.stop() })

t.test('a frozen poll loop turns /healthz to 503, naming how long it has been stuck', async (t) => {
  const proxy = await slowProxy({ host: '127.0.0.1', port: azurite.queuePort }, 0)
  t.teardown(proxy.close)
  // A receive that hangs hangs the loop until the storage timeout (5 s), far
  // past the 1.5 s liveness window. Not longer: the Azure SDK's HTTP client
  // leaves its request-timeout timer running when a request is aborted, and
  // that timer alone would keep this test process alive until it fires.
  const config = workerConfig(connectionStringFor('127.0.0.1', proxy.port, azurite.tablePort), freshNames(),
    { STORAGE_TIMEOUT_MS: '5000', WORKER_MAX_BACKOFF_MS: '100', WORKER_HEALTH_PORT: '0' })
  const worker = await startWorker(config, { logger: captureLogger().log, health: true, liveWindowMs: 1500 })
  t.teardown(worker.close)
  const healthz = async (): Promise<{ status: number, body: { status: string, reason?: string } }> => {
    const res = await fetch(`http://127.0.0.1:${String(worker.healthPort)}/healthz`)
    return { status: res.status, body: await res.json() as { status: string, reason?: string } }
  }

  // Polling an empty queue every 100 ms at most: live, for longer than the window.
  await new Promise((resolve) => setTimeout(resolve, 3000))
  t.same(await healthz(), { status: 200, body: { status: 'ok' } }, 'live while it polls')

  proxy.setDelay(3_600_000)
  const stuck = await waitFor('/healthz to fail', async () => { const h = await healthz(); return h.status === 503 && h }, 20_000, 100)
  t.match(stuck.body, { status: 'stuck', reason: /^poll loop stuck: no step for \d+ ms \(limit 1500 ms\)$/ })
})

t.test('the liveness window covers two timed-out tries and the error back-off', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames(), { STORAGE_TIMEOUT_MS: '5000' })
  const worker = await startWorker(config, { logger: captureLogger().log })
  t.teardown(worker.close)
  t.equal(worker.worker.liveWindowMs, 45_000, '3 x (2 x 5 s + 5 s)')
  t.equal(worker.worker.notLive(), undefined)
})
