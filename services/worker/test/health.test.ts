import t from 'tap'
import { startHealthServer } from '../src/health.js'

t.test('/healthz answers while the process lives; /readyz follows the worker and says why not', async (t) => {
  let reason: string | undefined = 'has not polled the queue yet'
  const health = await startHealthServer({ host: '127.0.0.1', port: 0, notReady: () => reason })
  t.teardown(health.close)
  const get = async (path: string, method = 'GET'): Promise<{ status: number, body: string }> => {
    const res = await fetch(`http://127.0.0.1:${health.port}${path}`, { method })
    return { status: res.status, body: await res.text() }
  }
  t.same(await get('/healthz'), { status: 200, body: '{"status":"ok"}' })
  t.same(await get('/readyz'), { status: 503, body: '{"status":"not ready","reason":"has not polled the queue yet"}' })
  reason = undefined
  t.same(await get('/readyz?probe=1'), { status: 200, body: '{"status":"ready"}' })
  t.same(await get('/readyz', 'HEAD'), { status: 200, body: '' })
  t.equal((await get('/healthz', 'POST')).status, 405)
  t.equal((await get('/metrics')).status, 404)
})

t.test('close is idempotent and a taken port is an error at start', async (t) => {
  const health = await startHealthServer({ host: '127.0.0.1', port: 0, notReady: () => undefined })
  await t.rejects(startHealthServer({ host: '127.0.0.1', port: health.port, notReady: () => undefined }), { code: 'EADDRINUSE' })
  await Promise.all([health.close(), health.close()])
})

t.test('/healthz answers 503 with the reason while the worker says it is stuck', async (t) => {
  let stuck: string | undefined = 'poll loop stuck: no step for 50000 ms (limit 45000 ms)'
  const health = await startHealthServer({ host: '127.0.0.1', port: 0, notReady: () => undefined, notLive: () => stuck })
  t.teardown(health.close)
  const res = await fetch(`http://127.0.0.1:${health.port}/healthz`)
  t.same({ status: res.status, body: await res.json() }, { status: 503, body: { status: 'stuck', reason: stuck } })
  stuck = undefined
  t.equal((await fetch(`http://127.0.0.1:${health.port}/healthz`)).status, 200)
})
