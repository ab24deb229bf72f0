/**
 * A table endpoint that accepts connections and never answers (a TCP proxy in
 * front of Azurite's table service that can be made to hang), after start and
 * at start. The queue stays on Azurite itself.
 */
import t, { type Test } from 'tap'
import type { ApiConfig } from '../src/config.js'
import { connectionStringFor, startTcpProxy, type TcpProxy } from '@codegate/stack'
import { appFor, azuriteFor, configFor, insertCode, json, tableFor, vaultFor, hasher, type Parts } from './fixtures/parts.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const parts: Parts = { azurite, vault, numberApi: { url: 'http://127.0.0.1:9/api/RandomNumber' } }
const TIMEOUT_MS = 1000

async function proxyFor (t: Test, hanging: boolean): Promise<TcpProxy> {
  const proxy = await startTcpProxy({ port: azurite.tablePort }, { hanging })
  t.teardown(() => proxy.close())
  return proxy
}

/** The api's config with its table behind `proxy`; `direct` is the same names straight to Azurite, for the test's own calls. */
function configs (proxy: TcpProxy): { config: ApiConfig, direct: ApiConfig } {
  const direct = configFor(parts, { storageTimeoutMs: TIMEOUT_MS, signinMaxFailures: 50, signinSubjectMaxFailures: 50 })
  const config: ApiConfig = { ...direct, auth: { kind: 'connection-string', connectionString: connectionStringFor('127.0.0.1', azurite.queuePort, proxy.port), queueName: (direct.auth as { queueName: string }).queueName } }
  return { config, direct }
}

const signin = (code: string): { method: 'POST', url: string, payload: string, headers: Record<string, string> } =>
  ({ method: 'POST', url: '/api/v1/signin', ...json({ code }) })

t.test('a table that hangs after start: sign-in answers 503 within about STORAGE_TIMEOUT_MS, and works again when it answers', async (t) => {
  const proxy = await proxyFor(t, false)
  const { config, direct } = configs(proxy)
  const table = await tableFor(direct)
  await insertCode(table, 'hng-1-TBL')
  const { app } = await appFor(t, config)
  t.equal((await app.inject(signin('hng-2-TBL'))).statusCode, 401, 'the table answers at first')

  proxy.hang()
  const started = Date.now()
  const answers = await Promise.all(Array.from({ length: 10 }, async () => await app.inject(signin('hng-1-TBL'))))
  const elapsed = Date.now() - started
  t.same(answers.map((r) => r.statusCode), Array(10).fill(503), 'every sign-in is a 503')
  t.equal(answers[0]?.json().error, 'storage_unavailable')
  // Generous: the point is an answer bounded by the timeout, not an exact time.
  t.ok(elapsed < TIMEOUT_MS + 4000, `answered in ${elapsed} ms`)
  t.equal((await table.get(hasher.hash('hng-1-TBL')))?.consumedAt, undefined, 'nothing was consumed')

  proxy.forward()
  t.equal((await app.inject(signin('hng-1-TBL'))).statusCode, 200, 'the code still signs in once the table answers')
})

t.test('a table that hangs at start: the api starts, the warning names the endpoint, sign-in answers 503', async (t) => {
  const proxy = await proxyFor(t, true)
  const { config, direct } = configs(proxy)
  const table = await tableFor(direct)
  await insertCode(table, 'hng-3-STA')
  const { app, logs } = await appFor(t, config, { keyStartWaitMs: 100 })
  const warning = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.event === 'storage.unavailable')
  t.match(warning, { tableEndpoint: new RegExp(`127\\.0\\.0\\.1:${proxy.port}`), err: { message: new RegExp(`did not answer within ${TIMEOUT_MS} ms .*table http://127\\.0\\.0\\.1:${proxy.port}`) } })
  t.equal((await app.inject(signin('hng-3-STA'))).statusCode, 503)
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { checks: { table: { ok: false, reason: /unreachable/ } } })

  proxy.forward()
  const after = await app.inject(signin('hng-3-STA'))
  t.equal(after.statusCode, 200, `it signs in once the table answers: ${after.body}`)
  if (after.statusCode !== 200) console.error(logs.filter((l) => l.includes('request.failed')).slice(-2).join('\n'))
})

t.test('/readyz reuses its answer: a flood of probes is one storage call', async (t) => {
  const proxy = await proxyFor(t, false)
  const { config, direct } = configs(proxy)
  await tableFor(direct)
  const { app } = await appFor(t, config)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const before = proxy.requests
  const answers = await Promise.all(Array.from({ length: 50 }, async () => await app.inject('/readyz')))
  t.ok(answers.every((r) => r.statusCode === 200))
  t.equal(proxy.requests - before, 1, '50 probes at once, one table call')
})
