import t from 'tap'
import { freePort } from '../src/ports.js'
import { isAlive, ProcessStartError, runScript, startProcess, type ManagedProcess, type ProcessOptions } from '../src/managed-process.js'
import { spawnSync } from 'node:child_process'

/** A node child running `script`, with just enough environment. */
const node = (name: string, script: string, extra: Partial<ProcessOptions> = {}): ProcessOptions => ({
  name,
  command: process.execPath,
  args: ['-e', script],
  env: { PATH: process.env.PATH },
  ...extra
})

const server = `
  const port = Number(process.env.PORT)
  require('node:http').createServer((req, res) => res.end(req.url)).listen(port, '127.0.0.1', () => console.log('listening'))
`

t.test('startProcess resolves once the URL answers, and stop() ends the process as expected', async (t) => {
  const port = await freePort()
  const lines: string[] = []
  const proc = await startProcess(node('web', server, {
    env: { PATH: process.env.PATH, PORT: String(port) },
    ready: { url: `http://127.0.0.1:${port}/healthz` },
    onLine: (line) => { lines.push(line) }
  }))
  t.teardown(() => proc.kill())
  t.ok(proc.running)
  t.equal(await (await fetch(`http://127.0.0.1:${port}/x`)).text(), '/x')

  const exit = await proc.stop()
  t.equal(exit.expected, true)
  t.notOk(proc.running)
  t.notOk(isAlive(proc.pid), 'the process is gone')
  t.same(lines, ['listening'], 'its output was handed over line by line')
})

t.test('the child gets the environment it is given, not this process\'s', async (t) => {
  process.env.CODEGATE_PARENT_ONLY = 'x'
  t.teardown(() => { delete process.env.CODEGATE_PARENT_ONLY })
  const lines: string[] = []
  const proc = await startProcess(node('env', 'console.log(JSON.stringify(process.env))', {
    env: { PATH: process.env.PATH, ONLY_THIS: '1' },
    onLine: (line) => { lines.push(line) }
  }))
  await proc.exited
  // (tap adds its own coverage variables to every node child it sees spawned)
  const env = JSON.parse(lines[0] ?? '{}') as Record<string, string>
  t.equal(env.ONLY_THIS, '1')
  t.equal(env.CODEGATE_PARENT_ONLY, undefined)
})

t.test('a process that exits before it is ready rejects with its exit and its last output', async (t) => {
  const port = await freePort()
  const err = await startProcess(node('broken', 'console.error("missing setting FOO"); process.exit(3)', {
    ready: { port }
  })).catch((e: unknown) => e)
  t.type(err, ProcessStartError)
  t.match((err as ProcessStartError).message, /broken exited with code 3 before it was ready/)
  t.match((err as ProcessStartError).message, /missing setting FOO/)
  t.equal((err as ProcessStartError).code, 'PROCESS_START_FAILED')
})

t.test('a process that never answers is killed after the ready timeout', async (t) => {
  const port = await freePort()
  // The pid comes with the error: on a busy machine the child may not have run
  // a line of its own within the timeout, so it cannot be asked for it.
  const err = await startProcess(node('silent', 'setInterval(() => {}, 1000)', {
    ready: { port },
    readyTimeoutMs: 1000
  })).catch((e: unknown) => e)
  t.type(err, ProcessStartError)
  t.match((err as Error).message, /silent did not become ready/)
  const { pid } = err as ProcessStartError
  t.ok(pid > 0, `the error names the process (pid ${pid})`)
  t.notOk(isAlive(pid), 'the process was stopped')
})

t.test('stop() sends SIGKILL when SIGTERM is ignored past the bound', async (t) => {
  let resolveUp: () => void = () => {}
  const up = new Promise<void>((resolve) => { resolveUp = resolve })
  const proc = await startProcess(node('stubborn', 'process.on("SIGTERM", () => console.log("ignored")); setInterval(() => {}, 1000); console.log("up")', {
    onLine: (line) => { if (line === 'up') resolveUp() }
  }))
  t.teardown(() => proc.kill())
  await up
  const exit = await proc.stop(500)
  t.equal(exit.signal, 'SIGKILL')
  t.equal(exit.expected, true)
})

t.test('kill() is an expected exit; an exit nobody asked for is not', async (t) => {
  const killed = await startProcess(node('victim', 'setInterval(() => {}, 1000)'))
  killed.kill('SIGKILL')
  t.match(await killed.exited, { signal: 'SIGKILL', expected: true })

  const crashing = await startProcess(node('crasher', 'setTimeout(() => process.exit(7), 50)'))
  t.match(await crashing.exited, { code: 7, expected: false })
})

t.test('aborting the start kills the process and rejects with the reason', async (t) => {
  const port = await freePort()
  const controller = new AbortController()
  let pid = -1
  const starting = startProcess(node('aborted', 'console.log(process.pid); setInterval(() => {}, 1000)', {
    ready: { port },
    signal: controller.signal,
    onLine: (line) => {
      pid = Number(line)
      controller.abort(new Error('user pressed Ctrl-C'))
    }
  }))
  await t.rejects(starting, { message: 'user pressed Ctrl-C' })
  t.ok(pid > 0 && !isAlive(pid), 'the process was stopped')
})

t.test('a command that cannot be spawned rejects instead of hanging', async (t) => {
  const err = await startProcess({ name: 'nothing', command: '/nonexistent/binary', env: {}, ready: { port: await freePort() } }).catch((e: unknown) => e)
  t.type(err, ProcessStartError)
  t.match((err as Error).message, /ENOENT/)
})

t.test('runScript runs a script to its end and hands back its exit code and all of its output', async (t) => {
  const dir = t.testdir({ 'script.cjs': "console.log('one'); console.error('warn'); console.log('two'); process.exitCode = 3" })
  const seen: { proc?: ManagedProcess } = {}
  const run = await runScript({ name: 'script', script: `${dir}/script.cjs`, args: [], env: { PATH: process.env.PATH }, onStart: (proc) => { seen.proc = proc } })
  t.same(run, { code: 3, signal: null, stdout: 'one\ntwo\n', stderr: 'warn\n' })
  t.equal(seen.proc?.running, false, 'onStart was given the process, which has exited')
})

t.test('a Node child gets NODE_OPTIONS exactly as given, whatever the runner adds to child_process', async (t) => {
  const printOptions = 'console.log(JSON.stringify(process.env.NODE_OPTIONS ?? null))'
  const optionsOf = async (env: Record<string, string | undefined>): Promise<unknown> => {
    const dir = t.testdir({ 'print.cjs': printOptions })
    const run = await runScript({ name: 'print', script: `${dir}/print.cjs`, env: { PATH: process.env.PATH, ...env } })
    return JSON.parse(run.stdout)
  }
  t.equal(await optionsOf({ NODE_OPTIONS: '--max-old-space-size=64' }), '--max-old-space-size=64', 'as given')
  t.equal(await optionsOf({}), null, 'unset when not given')
  // Under tap, a plain spawn of the same script shows what the runner adds (its
  // processinfo loader); elsewhere there is nothing to strip and both agree.
  const plain = spawnSync(process.execPath, ['-e', printOptions], { env: { PATH: process.env.PATH }, encoding: 'utf8' })
  t.comment(`a plain spawn here gets NODE_OPTIONS ${plain.stdout.trim()}`)
})
