import t from 'tap'
import { createHook } from 'node:async_hooks'
import { SecretUnavailableError } from '@codegate/shared/secret-provider'
import { ThirdPartyError } from '../src/errors.js'
import { parseNumber, readCapped, ThirdPartyNumbers, type KeySource } from '../src/third-party.js'
import { fakeThirdParty } from './fixtures/parts.js'

t.test('parseNumber accepts exactly {"value": integer 1..1000}', async (t) => {
  t.equal(parseNumber('{"value":1}'), 1)
  t.equal(parseNumber('{"value":1000}'), 1000)
  t.equal(parseNumber(' {"value": 42, "extra": true} '), 42, 'extra fields are ignored')
  for (const bad of ['', 'x', '{"value":0}', '{"value":1001}', '{"value":-1}', '{"value":2.5}', '{"value":"5"}', '{"value":null}', '[5]', '5', 'null', '{"value":1e400}']) {
    t.equal(parseNumber(bad), undefined, bad)
  }
})

function keys (values: string[]): KeySource & { refreshes: string[] } {
  let current = values.shift() as string
  const refreshes: string[] = []
  return {
    name: 'test-key',
    refreshes,
    get: async () => current,
    refresh: async (rejected) => {
      refreshes.push(rejected)
      current = values.shift() ?? current
      return current
    }
  }
}

t.test('a 401 re-reads the key and retries once with the new one', async (t) => {
  const seen: (string | undefined)[] = []
  const upstream = await fakeThirdParty(t, (req, res) => {
    const key = req.headers['x-functions-key'] as string | undefined
    seen.push(key)
    res.writeHead(key === 'new' ? 200 : 401).end(key === 'new' ? '{"value":7}' : '')
  })
  const source = keys(['old', 'new'])
  const numbers = new ThirdPartyNumbers({ endpoint: upstream.url, timeoutMs: 2000, keys: source })
  t.equal(await numbers.next(), 7)
  t.same(seen, ['old', 'new'])
  t.same(source.refreshes, ['old'])
})

t.test('a 401 when the vault still holds the same key fails without a pointless second call', async (t) => {
  const upstream = await fakeThirdParty(t, (_req, res) => { res.writeHead(401).end() })
  const numbers = new ThirdPartyNumbers({ endpoint: upstream.url, timeoutMs: 2000, keys: keys(['only']) })
  const err = await numbers.next().catch((e: unknown) => e)
  t.ok(err instanceof ThirdPartyError)
  t.match(err, { reason: 'unauthorized', upstreamStatus: 401 })
  t.equal(upstream.requests(), 1)
})

t.test('a vault failure during the refresh surfaces as SecretUnavailableError (503, not 502)', async (t) => {
  const upstream = await fakeThirdParty(t, (_req, res) => { res.writeHead(401).end() })
  const numbers = new ThirdPartyNumbers({
    endpoint: upstream.url,
    timeoutMs: 2000,
    keys: { name: 'k', get: async () => 'old', refresh: async () => { throw new SecretUnavailableError('k') } }
  })
  t.ok(await numbers.next().catch((e: unknown) => e) instanceof SecretUnavailableError)
})

t.test('a vault read that hangs ends at the deadline as SecretUnavailableError', async (t) => {
  const numbers = new ThirdPartyNumbers({
    endpoint: 'http://127.0.0.1:9/api/RandomNumber',
    timeoutMs: 200,
    keys: { name: 'k', get: async () => await new Promise<string>(() => {}), refresh: async () => 'x' }
  })
  // AbortSignal.timeout does not keep the process alive; a server would.
  const alive = setTimeout(() => {}, 5000)
  t.teardown(() => { clearTimeout(alive) })
  const started = Date.now()
  t.ok(await numbers.next().catch((e: unknown) => e) instanceof SecretUnavailableError)
  t.ok(Date.now() - started < 1000)
})

t.test('a connection the server dropped on reuse is retried once', async (t) => {
  let calls = 0
  const upstream = await fakeThirdParty(t, (req, res) => {
    calls++
    // The first request's socket is destroyed without an answer, as a closed keep-alive connection looks.
    if (calls === 1) { req.socket.destroy(); return }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"value":9}')
  })
  const numbers = new ThirdPartyNumbers({ endpoint: upstream.url, timeoutMs: 2000, keys: keys(['k']) })
  t.equal(await numbers.next(), 9)
  t.equal(calls, 2)
})

t.test('the timeout covers the retry too', async (t) => {
  const upstream = await fakeThirdParty(t, (req, res) => {
    const key = req.headers['x-functions-key']
    if (key === 'old') { setTimeout(() => { res.writeHead(401).end() }, 150); return }
    setTimeout(() => { res.writeHead(200).end('{"value":1}') }, 1000).unref()
  })
  const numbers = new ThirdPartyNumbers({ endpoint: upstream.url, timeoutMs: 300, keys: keys(['old', 'new']) })
  const started = Date.now()
  const err = await numbers.next().catch((e: unknown) => e)
  t.ok(err instanceof ThirdPartyError)
  t.match(err, { reason: 'timeout' })
  t.ok(Date.now() - started < 900, 'gave up at the deadline, not one timeout per call')
})

t.test('no deadline timer outlives the call it guarded', async (t) => {
  // A timer per request left to fire seconds later costs the api CPU on every
  // code (measured in docs/benchmarks.md); the deadline must be cleared.
  const upstream = await fakeThirdParty(t, (_req, res) => { res.writeHead(200).end('{"value":5}') })
  const numbers = new ThirdPartyNumbers({ endpoint: upstream.url, timeoutMs: 60_000, keys: keys(['k']) })
  await numbers.next()
  const live = new Set<number>()
  const hook = createHook({ init (id, type) { if (type === 'Timeout') live.add(id) }, destroy (id) { live.delete(id) } }).enable()
  t.teardown(() => { hook.disable() })
  const settle = async (): Promise<void> => {
    await new Promise((resolve) => setTimeout(resolve, 20))
    await new Promise((resolve) => setImmediate(resolve))
  }
  // The fake server's own keep-alive timers live in this process too: count growth, not the total.
  for (let i = 0; i < 5; i++) await numbers.next()
  await settle()
  const warm = live.size
  for (let i = 0; i < 20; i++) t.equal(await numbers.next(), 5)
  await settle()
  t.ok(live.size - warm <= 2, `${live.size - warm} more timers alive after 20 more calls`)
})

t.test('a body that stalls gives up at the deadline even when nothing ties it to the signal', async (t) => {
  // A stream fetch's abort never reaches: only the deadline raced by each read can end this.
  let cancelled = false
  const stalled = new ReadableStream<Uint8Array>({
    start (controller) { controller.enqueue(new TextEncoder().encode('{"value":')) },
    pull: async () => await new Promise<void>(() => {}),
    cancel: () => { cancelled = true }
  })
  const deadline = new AbortController()
  const timer = setTimeout(() => { deadline.abort() }, 50)
  t.teardown(() => { clearTimeout(timer) })
  await t.rejects(readCapped(new Response(stalled), 1024, deadline.signal), { name: 'TimeoutError' })
  t.ok(cancelled, 'the reader is cancelled, so the connection is let go')
  t.equal(await readCapped(new Response('{"value": 7}'), 1024, new AbortController().signal), '{"value": 7}', 'a whole body is read as before')
})
