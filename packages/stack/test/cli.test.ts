/**
 * `npm start` itself (packages/stack/dist/cli.js, built by `npm test`), on
 * free ports and a temporary data folder so it never meets a running one.
 */
import { spawn } from 'node:child_process'
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

t.test('npm start brings the system up, prints where the API is, and SIGTERM stops everything with exit 0', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'codegate-cli-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const env = await launcherEnv(dataDir)
  const launcher = launch(env)
  t.teardown(() => { if (isAlive(launcher.pid)) process.kill(launcher.pid, 'SIGKILL') })

  await launcher.waitFor('codegate is running', 150_000)
  const api = `http://127.0.0.1:${env.PORT ?? ''}`
  t.match(launcher.output(), `API docs    ${api}/docs`)
  for (const prefix of ['[azurite]', '[stack]']) t.match(launcher.output(), prefix)
  const res = await fetch(`${api}/api/v1/getcode`)
  t.equal(res.status, 200, 'getcode answers through the launched api')

  const children = childrenOf(launcher.pid)
  t.equal(children.length, 6, 'two Azurite services and four service processes')
  process.kill(launcher.pid, 'SIGTERM')
  t.equal(await launcher.exited, 0, 'exit code 0')
  t.same(children.filter(isAlive), [], 'no child is left')
  t.match(launcher.output(), /\[stack\]\s+stopped/)
  t.ok(existsSync(join(dataDir, 'azurite')) && existsSync(join(dataDir, 'dev-vault', 'cert.pem')), 'data is kept in CODEGATE_DATA_DIR')
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
