import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import type { NumberApiConfig } from '../src/config.js'
import { loggerOptions } from '@codegate/shared/logger'
import { buildNumberApi, type NumberApiOptions } from '../src/app.js'

const KEY = 'first-key-0123456789'
const ROTATED = 'second-key-abcdefghij'
const config: NumberApiConfig = { logLevel: 'silent', keys: [KEY, ROTATED], host: '127.0.0.1', port: 0 }

async function start (t: Test, opts: NumberApiOptions = { logger: false }): Promise<string> {
  const app = buildNumberApi(config, opts)
  t.teardown(() => app.close())
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return `${url}/api/RandomNumber`
}

function isDraw (t: Test, body: unknown): void {
  const value = (body as { value?: unknown }).value
  t.ok(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 1000, `value ${String(value)} is an integer in 1..1000`)
}

t.test('a key in the x-functions-key header gets a number from 1 to 1000', async (t) => {
  const url = await start(t)
  const res = await fetch(url, { headers: { 'x-functions-key': KEY } })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /application\/json/)
  isDraw(t, await res.json())
})

t.test('a key in the code query parameter is accepted, as Azure Functions does', async (t) => {
  const url = await start(t)
  const res = await fetch(`${url}?code=${encodeURIComponent(KEY)}`)
  t.equal(res.status, 200)
  isDraw(t, await res.json())
})

t.test('POST is answered like GET, whatever the body', async (t) => {
  const url = await start(t)
  const res = await fetch(url, { method: 'POST', headers: { 'x-functions-key': KEY, 'content-type': 'application/json' }, body: '{not json' })
  t.equal(res.status, 200)
  isDraw(t, await res.json())
})

t.test('the second, rotated key is accepted too', async (t) => {
  const url = await start(t)
  const res = await fetch(url, { method: 'POST', headers: { 'x-functions-key': ROTATED } })
  t.equal(res.status, 200)
  isDraw(t, await res.json())
})

t.test('a request without a valid key gets 401', async (t) => {
  const url = await start(t)
  const cases: [string, RequestInit, string][] = [
    ['no key', {}, url],
    ['empty header', { headers: { 'x-functions-key': '' } }, url],
    ['wrong key of the same length', { headers: { 'x-functions-key': KEY.replace('0', 'X') } }, url],
    ['a prefix of the key', { headers: { 'x-functions-key': KEY.slice(0, 5) } }, url],
    ['the key with more after it', { headers: { 'x-functions-key': `${KEY}0` } }, url],
    ['wrong key in the query', {}, `${url}?code=nope`],
    ['wrong header, even with a right query key', { headers: { 'x-functions-key': 'nope' } }, `${url}?code=${KEY}`]
  ]
  for (const [name, init, target] of cases) {
    const res = await fetch(target, init)
    t.equal(res.status, 401, name)
    t.match(await res.json(), { error: 'unauthorized' }, name)
  }
})

t.test('methods other than GET and POST get 405 with an Allow header', async (t) => {
  const url = await start(t)
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    const res = await fetch(url, { method, headers: { 'x-functions-key': KEY, 'content-type': 'text/plain' }, body: 'x' })
    t.equal(res.status, 405, method)
    t.equal(res.headers.get('allow'), 'GET, POST', method)
    await res.body?.cancel()
  }
})

t.test('the route is case-insensitive, as in Azure Functions', async (t) => {
  const url = await start(t)
  const res = await fetch(url.replace('RandomNumber', 'randomnumber'), { headers: { 'x-functions-key': KEY } })
  t.equal(res.status, 200)
  isDraw(t, await res.json())
})

t.test('many draws all fall in 1..1000 and are not all the same', async (t) => {
  const url = await start(t)
  const values = new Set<number>()
  for (let i = 0; i < 300; i++) {
    const res = await fetch(url, { headers: { 'x-functions-key': KEY } })
    const { value } = await res.json() as { value: number }
    if (!(Number.isInteger(value) && value >= 1 && value <= 1000)) t.fail(`draw ${i} is ${value}`)
    values.add(value)
  }
  t.ok(values.size > 100, `${values.size} distinct values in 300 draws`)
})

t.test('GET /healthz answers 200 without a key', async (t) => {
  const url = await start(t)
  const res = await fetch(url.replace('/api/RandomNumber', '/healthz'))
  t.equal(res.status, 200)
  await res.body?.cancel()
})

t.test('the key never reaches the logs, from the header, the query or a mistyped path', async (t) => {
  let logged = ''
  const stream = new Writable({ write (chunk, _enc, done) { logged += String(chunk); done() } })
  const url = await start(t, { logger: { ...loggerOptions('number-api', 'trace'), stream } })
  await (await fetch(url, { headers: { 'x-functions-key': KEY } })).body?.cancel()
  await (await fetch(`${url}?code=${ROTATED}`)).body?.cancel()
  await (await fetch(`${url}?code=${KEY}x`)).body?.cancel()
  const res404 = await fetch(`${url}/nope?code=${KEY}`)
  t.equal(res404.status, 404)
  t.notMatch(await res404.text(), KEY, 'the 404 answer does not echo the query')
  t.match(logged, /incoming request/, 'requests were logged')
  t.notMatch(logged, KEY)
  t.notMatch(logged, ROTATED)
})
