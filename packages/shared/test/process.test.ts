/**
 * The process kit as a process sees it: a service (test/fixtures/service.mjs,
 * built code) started, signalled, failing to start, or given bad config.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const SERVICE = fileURLToPath(new URL('./fixtures/service.mjs', import.meta.url))

interface Run {
  lines: Array<{ level: number, msg: string, [key: string]: unknown }>
  stderr: () => string
  waitFor: (msg: string) => Promise<void>
  kill: (signal: NodeJS.Signals) => void
  exited: Promise<number | null>
}

function run (mode: string): Run {
  const child = spawn(process.execPath, [SERVICE, mode], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: Run['lines'] = []
  const waiters: Array<{ msg: string, resolve: () => void }> = []
  let partial = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n')
    partial = parts.pop() ?? ''
    for (const part of parts) {
      const line = JSON.parse(part) as Run['lines'][number]
      lines.push(line)
      for (const w of waiters.filter((w) => w.msg === line.msg)) w.resolve()
    }
  })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return {
    lines,
    stderr: () => stderr,
    waitFor: async (msg) => { if (!lines.some((l) => l.msg === msg)) await new Promise<void>((resolve) => { waiters.push({ msg, resolve }) }) },
    kill: (signal) => { child.kill(signal) },
    exited
  }
}

t.test('bad config: exit 1, the bad variable named on stderr and in a fatal log line', async (t) => {
  const service = run('bad-config')
  t.equal(await service.exited, 1)
  t.match(service.stderr(), /^fixture: Invalid configuration: FIXTURE_PORT must be integer\n$/)
  t.match(service.lines, [{ level: 60, msg: /FIXTURE_PORT/, errorCode: 'CONFIG_INVALID', variables: ['FIXTURE_PORT'] }])
  t.notOk(service.lines.some((l) => l.msg === 'fixture ready'), 'never started')
})

t.test('a failure to start is logged as fatal, with its error, and exits 1', async (t) => {
  const service = run('start-fails')
  t.equal(await service.exited, 1)
  t.match(service.lines.find((l) => l.level === 60), { msg: 'fixture could not start', err: { message: 'port taken' } })
})

t.test('SIGTERM closes the service once and exits 0', async (t) => {
  const service = run('runs')
  await service.waitFor('fixture ready')
  service.kill('SIGTERM')
  t.equal(await service.exited, 0)
  t.match(service.lines.find((l) => l.msg === 'closing'), { signal: 'SIGTERM' })
  t.equal(service.lines.filter((l) => l.msg === 'fixture closing its parts').length, 1)
})

t.test('a second signal while a close hangs goes to onSecondSignal', async (t) => {
  const service = run('hung-close')
  await service.waitFor('fixture ready')
  service.kill('SIGINT')
  await service.waitFor('fixture closing its parts')
  service.kill('SIGTERM')
  t.equal(await service.exited, 77)
  t.match(service.lines.find((l) => l.msg === 'fixture killed'), { signal: 'SIGTERM' })
})
