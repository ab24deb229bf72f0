/**
 * `npm start` itself (packages/stack/dist/cli.js, built by `npm test`), on
 * free ports and a temporary data folder so it never meets a running one.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { freePort } from '../src/ports.js'
import { PORT_VARIABLES, repositoryRoot } from '../src/local-system.js'
import { isAlive } from '../src/managed-process.js'
import { nodeSupportWarning } from '../src/node-support.js'

const cli = join(repositoryRoot(), 'packages/stack/dist/cli.js')
const tokenCli = join(repositoryRoot(), 'packages/stack/dist/token-cli.js')
const traceCli = join(repositoryRoot(), 'packages/stack/dist/trace-cli.js')

/** Direct children of `pid`, from /proc (Linux). */
function childrenOf (pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // Field 4 of /proc/<pid>/stat, after the ")" that ends the command name.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return children
}

async function launcherEnv (dataDir: string): Promise<Record<string, string>> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', CODEGATE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' }
  const taken = new Set<number>()
  for (const variable of Object.values(PORT_VARIABLES)) {
    let port = await freePort()
    while (taken.has(port)) port = await freePort()
    taken.add(port)
    env[variable] = String(port)
  }
  return env
}

function launch (env: Record<string, string>): { output: () => string, exited: Promise<number | null>, pid: number, waitFor: (text: string, timeoutMs: number) => Promise<void> } {
  const child = spawn(process.execPath, [cli], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const waiters: { text: string, resolve: () => void }[] = []
  const onData = (chunk: Buffer): void => {
    output += chunk.toString()
    for (const w of waiters) if (output.includes(w.text)) w.resolve()
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  return {
    output: () => output,
    exited,
    pid: child.pid ?? -1,
    waitFor: async (text, timeoutMs) => {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`no "${text}" within ${timeoutMs} ms; output:\n${output}`)) }, timeoutMs)
        const done = (): void => { clearTimeout(timer); resolve() }
        void exited.then(() => { clearTimeout(timer); reject(new Error(`the launcher exited before "${text}"; output:\n${output}`)) })
        if (output.includes(text)) done()
        else waiters.push({ text, resolve: done })
      })
    }
  }
}

t.test('npm start brings the system up, prints where the API is, traces with TRACE=1, and SIGTERM stops everything with exit 0', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'codegate-cli-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const env: Record<string, string> = { ...await launcherEnv(dataDir), TRACE: '1' }
  let otlpPort = await freePort()
  while (Object.values(env).includes(String(otlpPort))) otlpPort = await freePort()
  env.OTLP_RECEIVER_PORT = String(otlpPort)
  const launcher = launch(env)
  t.teardown(() => { if (isAlive(launcher.pid)) process.kill(launcher.pid, 'SIGKILL') })

  await launcher.waitFor('codegate is running', 150_000)
  const api = `http://127.0.0.1:${env.PORT ?? ''}`
  t.match(launcher.output(), `API docs    ${api}/docs`)
  for (const prefix of ['[azurite]', '[stack]']) t.match(launcher.output(), prefix)
  t.equal((await fetch(`${api}/api/v1/getcode`)).status, 401, 'the launched api wants a token')
  t.match(launcher.output(), 'TOKEN=$(npm run -s token -- --role Codes.Issue)', 'and says how to get one')
  // `npm run -s token -- --role Codes.Issue`, with the same launcher variables.
  const token = spawnSync(process.execPath, [tokenCli, '--role', 'Codes.Issue'], { env, encoding: 'utf8', timeout: 60_000 })
  t.equal(token.status, 0, token.stderr)
  const res = await fetch(`${api}/api/v1/getcode`, { headers: { authorization: `Bearer ${token.stdout.trim()}` } })
  t.equal(res.status, 200, 'getcode answers through the launched api with the printed token')
  const { code } = await res.json() as { code: string }

  // `npm run trace` lists the traced code by id, then prints its trace: the api's request and send, the worker's activate.
  t.match(launcher.output(), `OTLP receiver http://127.0.0.1:${otlpPort}`, 'the banner says where spans go')
  const trace = (...args: string[]): { status: number | null, stdout: string, stderr: string } =>
    spawnSync(process.execPath, [traceCli, ...args], { env, encoding: 'utf8', timeout: 30_000 })
  let tree = ''
  let listed = ''
  const traceDeadline = Date.now() + 30_000
  while (Date.now() < traceDeadline && !tree.includes('codegate.activate')) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    listed = trace().stdout
    const codeId = /^([0-9a-f]{8})\s/m.exec(listed)?.[1]
    if (codeId !== undefined) tree = trace(codeId).stdout
  }
  t.match(listed, /^[0-9a-f]{8}\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+trace [0-9a-f]{32}$/m, 'npm run trace lists the code by id, time and trace')
  t.match(tree, /^code [0-9a-f]{8}\s+trace [0-9a-f]{32}$/m)
  t.match(tree, /^\S.*\[codegate-api\]/m, 'the trace starts in the api')
  t.match(tree, /^\s+codegate\.enqueue\s+\[codegate-api\]/m, 'the send is inside the request')
  t.match(tree, /^\s+codegate\.activate\s+\[codegate-worker\]/m, 'the worker\'s activate is in the same trace, under the send')
  t.notOk(tree.includes(code), 'the tree names no code')
  t.equal(trace('ffffffffff').status, 1, 'an id no code has: exit 1')

  // The launcher's reaper (managed-process.ts) is a /bin/sh child of its own; it ends once the launcher has.
  const isReaper = (pid: number): boolean => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/bin/sh')
  const all = childrenOf(launcher.pid)
  const children = all.filter((pid) => !isReaper(pid))
  const reapers = all.filter(isReaper)
  t.equal(children.length, 6, 'two Azurite services and four service processes')
  t.equal(reapers.length, 1, 'and one reaper')
  process.kill(launcher.pid, 'SIGTERM')
  t.equal(await launcher.exited, 0, 'exit code 0')
  t.same(children.filter(isAlive), [], 'no child is left')
  const gone = (pid: number): boolean => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true } catch { return true } }
  const deadline = Date.now() + 30_000
  while (!reapers.every(gone) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.ok(reapers.every(gone), 'the reaper ends after the launcher')
  t.match(launcher.output(), /\[stack\]\s+stopped/)
  t.ok(existsSync(join(dataDir, 'azurite')) && existsSync(join(dataDir, 'dev-vault', 'cert.pem')), 'data is kept in CODEGATE_DATA_DIR')
  t.ok(existsSync(join(dataDir, 'traces', 'spans.ndjson')), 'and the spans too')
})

t.test('npm run token without a running dev-vault says so and exits 1', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'codegate-cli-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const run = spawnSync(process.execPath, [tokenCli, '--role', 'Codes.Issue'], { env: await launcherEnv(dataDir), encoding: 'utf8', timeout: 60_000 })
  t.equal(run.status, 1)
  t.equal(run.stdout, '', 'nothing on stdout, so TOKEN=$(...) is empty rather than an error text')
  t.match(run.stderr, /could not get a token from https:\/\/127\.0\.0\.1:\d+ \(is it running\?\)/)
  t.equal(spawnSync(process.execPath, [tokenCli, '--bogus'], { env: await launcherEnv(dataDir), encoding: 'utf8' }).status, 2, 'an unknown option is a usage error')
})

t.test('npm start on a taken port exits 1 naming the port and the variable to change', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'codegate-cli-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const blocker = createServer()
  await new Promise<void>((resolve) => { blocker.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { blocker.close() })
  const address = blocker.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  const launcher = launch({ ...await launcherEnv(dataDir), PORT: String(port) })
  t.equal(await launcher.exited, 1)
  t.match(launcher.output(), `Port ${port} on 127.0.0.1, wanted by api, is already in use`)
  t.match(launcher.output(), 'set PORT to a free port')
  // On an end-of-life Node (20 is one since 2026-04-30) it says so first; on 24 or 22 it does not.
  const warning = nodeSupportWarning(process.version)
  if (warning === undefined) t.notMatch(launcher.output(), /warning: Node/, `no warning on ${process.version}`)
  else t.match(launcher.output(), `warning: ${warning}`, `the end-of-life warning on ${process.version}`)
})
