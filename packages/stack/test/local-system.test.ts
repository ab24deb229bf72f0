/**
 * The whole system on free ports, as `npm start` runs it: real Azurite,
 * dev-vault, number-api, api and worker processes.
 */
import { createServer } from 'node:net'
import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { DEFAULT_PORTS, startLocalSystem, type LocalSystem } from '../src/local-system.js'
import { PortInUseError } from '../src/ports.js'
import { isAlive } from '../src/managed-process.js'

const CODE = /^[A-Za-z]{3}-\d{1,4}-[A-Za-z]{3}$/

/** Polls until `check` holds; the assertion is on the outcome, never on a fixed sleep. */
async function eventually (check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(200)
  }
  return false
}

async function getCode (system: LocalSystem): Promise<{ status: number, body: { code?: string } }> {
  const res = await fetch(system.urls.getCode, { headers: { authorization: `Bearer ${await system.tokens.get('Codes.Issue')}` } })
  return { status: res.status, body: await res.json() as { code?: string } }
}

t.test('the local system starts on free ports, issues a code, and stop() leaves no process behind', async (t) => {
  const crashes: string[] = []
  const output: string[] = []
  const system = await startLocalSystem({
    baseEnv: process.env,
    onLine: (name, line) => { output.push(`[${name}] ${line}`) },
    onCrash: (name) => { crashes.push(name) },
    env: { LOG_LEVEL: 'warn', CODE_TTL_SECONDS: '30' }
  })
  t.teardown(async () => { await system.stop() })

  const ports = Object.values(system.ports)
  t.equal(new Set(ports).size, ports.length, 'every part has its own port')
  for (const port of Object.values(DEFAULT_PORTS)) t.notOk(ports.includes(port), `the default port ${port} is not used`)
  t.match(system.api.env, { CODE_TTL_SECONDS: '30', LOG_LEVEL: 'warn', AZURE_CREDENTIAL: 'dev' }, 'settings reach the services that read them')
  t.notOk('CODE_TTL_SECONDS' in system.numberApi.env, 'and only those')

  t.equal((await fetch(system.urls.getCode)).status, 401, 'the api checks callers against dev-vault\'s issuer')
  const { status, body } = await getCode(system)
  t.equal(status, 200, 'GET /api/v1/getcode answers 200 with a token from it')
  t.match(body.code, CODE)
  t.equal((await fetch(`${system.urls.worker ?? ''}/healthz`)).status, 200, 'the worker answers its probe')

  const pids = system.pids()
  t.equal(pids.length, 6, 'azurite queue and table, vault, number-api, api, worker')
  t.ok(pids.every(isAlive))
  await system.stop()
  t.same(pids.filter(isAlive), [], 'no process is left')
  t.notOk(existsSync(system.dataDir), 'the temporary data folder is removed')
  t.same(crashes, [], 'nothing crashed')
})

t.test('single parts can be killed and restarted; a crash is reported', async (t) => {
  const crashes: string[] = []
  const system = await startLocalSystem({ baseEnv: process.env, onCrash: (name) => { crashes.push(name) }, env: { LOG_LEVEL: 'warn' } })
  t.teardown(async () => { await system.stop() })
  const worker = system.worker
  if (worker === undefined) throw new Error('no worker')

  const first = worker.pid
  worker.kill('SIGKILL')
  t.ok(await eventually(() => !worker.running), 'the worker is down')
  await worker.start()
  t.ok(worker.running && worker.pid !== first, 'and runs again as a new process')
  t.same(crashes, [], 'a kill through the handle is not a crash')

  process.kill(worker.pid ?? -1, 'SIGKILL')
  t.ok(await eventually(() => crashes.length > 0), 'a kill from outside is')
  t.same(crashes, ['worker'])

  await system.numberApi.restart(500)
  await system.azurite.restart()
  t.ok(await eventually(async () => (await getCode(system)).status === 200), 'getcode works again after number-api and Azurite restarts')
})

t.test('a fixed port that is taken fails the start, naming the port and the variable', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => { blocker.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { blocker.close() })
  const address = blocker.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  const err = await startLocalSystem({ baseEnv: process.env, ports: { numberApi: port } }).catch((e: unknown) => e)
  t.type(err, PortInUseError)
  t.match(err, { code: 'PORT_IN_USE', port, variable: 'NUMBER_API_PORT' })
  t.match((err as Error).message, new RegExp(`Port ${port} .*number-api.*NUMBER_API_PORT`))
})
