/**
 * `npm run soak -- --quick`, as CI runs it: the whole system under load and
 * faults for under 90 s. Passes when the soak exits 0 and its printed table
 * shows every invariant passing.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { runScript } from '@codegate/stack/managed-process'

// Startup, 43 s of load, the drain and a loaded CI machine running other test files.
t.setTimeout(300_000)

const root = fileURLToPath(new URL('../../', import.meta.url))
const cli = join(root, 'soak', 'dist', 'cli.js')

interface Run {
  code: number | null
  stdout: string
  stderr: string
  seconds: number
}

/** Runs the soak CLI in its own process group, stopped by teardown (and by the reaper if this file is killed). */
async function soak (t: Test, args: string[]): Promise<Run> {
  const started = Date.now()
  // SIGTERM lets the soak stop its system; SIGKILL after 30 s.
  const { code, stdout, stderr } = await runScript({ name: 'soak', script: cli, args, cwd: root, env: { ...process.env }, onStart: (proc) => { t.teardown(async () => { await proc.stop(30_000) }) } })
  return { code, stdout, stderr, seconds: (Date.now() - started) / 1000 }
}

t.test('the quick soak passes every invariant', async (t) => {
  t.ok(existsSync(cli), 'soak/dist/cli.js exists (npm test builds first; otherwise run npm run build)')
  const dir = await mkdtemp(join(tmpdir(), 'codegate-soak-test-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const out = join(dir, 'figures.json')

  const run = await soak(t, ['--quick', '--out', out])
  // The table is what a person reads when this fails; the progress lines say where the logs are.
  t.equal(run.code, 0, 'the soak exits 0', { table: run.stdout, progress: run.stderr })

  const rows = run.stdout.split('\n').filter((line) => /^(pass|FAIL) /.test(line))
  t.ok(rows.length > 0, 'the table has invariant rows')
  t.same(rows.filter((r) => r.startsWith('FAIL')), [], 'no invariant row says FAIL')
  t.match(run.stdout, /soak passed: all \d+ invariants hold/)

  const figures = JSON.parse(await readFile(out, 'utf8')) as { analysis: { passed: boolean, invariants: { id: string, pass: boolean }[] } }
  t.equal(figures.analysis.passed, true, 'the JSON figures agree')
  t.equal(rows.length, figures.analysis.invariants.length, 'one table row per invariant')
  t.same(figures.analysis.invariants.filter((i) => !i.pass).map((i) => i.id), [])
  t.comment(`quick soak took ${run.seconds.toFixed(1)} s`)
})
