/**
 * docker-compose.yml for real: builds the images, starts the project, gets a
 * code from the api, sees the worker activate it, signs in with it once, and
 * takes everything down again (containers, network, volumes).
 *
 * Needs a Docker engine and docker-compose (or the `docker compose` plugin);
 * where `docker info` gets no answer from an engine (CI has none) the test
 * skips and says so. The project has a name of its own, so it never touches a
 * `docker compose up` of the same checkout, and the api is published on a
 * free loopback port (API_PORT) instead of 3000.
 */
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { freePort } from '../src/ports.js'
import { waitUntilReady } from '../src/readiness.js'
import { repositoryRoot } from '../src/local-system.js'

const root = repositoryRoot()
const project = 'codegate-compose-test'

/** The compose command this machine has: docker-compose 1.29+ or `docker compose`. */
function composeCommand (): string[] | undefined {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose']
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose']
  return undefined
}

/** Why the test cannot run here, or undefined when it can. */
function missingEngine (): string | undefined {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 })
  if (info.error !== undefined) return `no docker command (${info.error.message}): install Docker to run the compose project`
  if (info.status !== 0) return `no Docker engine answers (docker info: ${info.stderr.trim().split('\n').at(-1) ?? ''}): start one to run the compose project`
  if (composeCommand() === undefined) return 'neither docker-compose nor `docker compose` is installed'
  return undefined
}

const skip = missingEngine()
// A first build fetches every dependency into the image layers: minutes on two cores.
if (skip === undefined) t.setTimeout(20 * 60_000)

interface Run { status: number | null, stdout: string, stderr: string }

t.test('docker-compose up: getcode, the worker activates the code, sign-in once, down -v', { skip: skip ?? false }, async (t) => {
  const compose = composeCommand()!
  const apiPort = await freePort()
  const env = { ...process.env, COMPOSE_PROJECT_NAME: project, API_PORT: String(apiPort) }
  const run = (args: string[], timeoutMs: number): Run => {
    const result = spawnSync(compose[0]!, [...compose.slice(1), ...args], { cwd: root, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 })
    return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? String(result.error ?? '') }
  }
  const down = (): Run => run(['down', '--volumes', '--remove-orphans', '--timeout', '5'], 120_000)

  // A run killed by its timeout leaves its containers: take them down first.
  down()
  t.teardown(() => {
    const result = down()
    if (result.status !== 0) console.error(`docker-compose down failed: ${result.stderr}`)
  })

  const build = run(['build'], 15 * 60_000)
  t.equal(build.status, 0, 'docker-compose build', { stderr: build.stderr.slice(-4000) })
  if (build.status !== 0) return

  // up -d returns once the api's dependencies are healthy (depends_on: service_healthy).
  const up = run(['up', '-d'], 5 * 60_000)
  t.equal(up.status, 0, 'docker-compose up -d', { stderr: up.stderr.slice(-4000) })
  if (up.status !== 0) return

  const base = `http://127.0.0.1:${apiPort}`
  await waitUntilReady({ url: `${base}/healthz` }, { timeoutMs: 120_000 })

  const token = (role: string): string => {
    const result = run(['exec', '-T', 'dev-vault', 'node', 'services/dev-vault/dist/token-main.js', '--role', role], 60_000)
    t.equal(result.status, 0, `dev-vault issues a ${role} token`, { stderr: result.stderr })
    return result.stdout.trim()
  }
  const issue = token('Codes.Issue')
  const verify = token('Codes.Verify')

  const unauthenticated = await fetch(`${base}/api/v1/getcode`)
  t.equal(unauthenticated.status, 401, 'getcode without a token is refused')

  const got = await fetch(`${base}/api/v1/getcode`, { headers: { authorization: `Bearer ${issue}` } })
  t.equal(got.status, 200, 'getcode answers')
  const { code } = await got.json() as { code: string }
  t.match(code, /^[A-Za-z]{3}-\d{3}-[A-Za-z]{3}$/, 'a code of the documented shape')

  await waitUntilReady({
    description: 'the worker logs code.activated',
    check: async () => run(['logs', '--no-color', 'worker'], 30_000).stdout.includes('code.activated')
  }, { timeoutMs: 60_000 })

  const signIn = async (): Promise<Response> => await fetch(`${base}/api/v1/signin`, {
    method: 'POST',
    headers: { authorization: `Bearer ${verify}`, 'content-type': 'application/json' },
    body: JSON.stringify({ code })
  })
  const first = await signIn()
  t.equal(first.status, 200, 'the code signs in')
  t.same(await first.json(), { status: 'approved' })
  const second = await signIn()
  t.equal(second.status, 401, 'and only once')
  t.match(await second.json(), { error: 'invalid_code' })

  const logs = run(['logs', '--no-color', 'api', 'worker'], 30_000).stdout
  t.ok(logs.length > 0, 'the services logged')
  t.notOk(logs.includes(code), 'the code is in no log line of the api or the worker')
})
