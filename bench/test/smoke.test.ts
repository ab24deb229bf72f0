/**
 * The bench end to end with its tiniest load (`--smoke`): it must exit 0 and
 * write a well-formed result, to a folder of the test's own (never docs/).
 * Timing is not asserted: this runs in CI on a shared machine.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { runScript, type ScriptRun } from '@codegate/stack/managed-process'
import { problemsOf } from '../src/result.js'

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

/** Runs the bench CLI in its own process group, stopped by teardown (and by the reaper if this file is killed). */
async function run (t: Test, args: string[]): Promise<ScriptRun> {
  return await runScript({ name: 'bench', script: CLI, args, env: { ...process.env }, onStart: (proc) => { t.teardown(async () => { await proc.stop(30_000) }) } })
}

// Every scenario starts a whole system: on a loaded 2-core machine that takes minutes.
t.setTimeout(360_000)

t.test('npm run bench -- --smoke runs every scenario and writes a well-formed result', async (t) => {
  const dir = t.testdir()
  const { code, stdout, stderr } = await run(t, ['--smoke', '--out', dir])
  t.equal(code, 0, `exit 0 (stderr: ${stderr.slice(-2000)})`)
  const result: unknown = JSON.parse(await readFile(join(dir, 'benchmarks.json'), 'utf8'))
  t.same(problemsOf(result), [], 'the JSON result has every figure')
  t.equal((result as { machine: { node: string } }).machine.node, process.version, 'it names the Node it ran on (process.execPath, like this test)')
  const markdown = await readFile(join(dir, 'benchmarks.md'), 'utf8')
  t.match(markdown, /\| figure \| measured \| baseline/, 'the markdown has the summary table')
  t.match(markdown, `; Node ${process.version};`, 'and the Node version')
  t.match(stdout, /\| figure \| measured \| baseline/, 'the summary table is printed too')
})

t.test('an unknown scenario is refused before anything starts', async (t) => {
  const { code, stderr } = await run(t, ['--smoke', '--only', 'nonsense', '--out', t.testdir()])
  t.equal(code, 1)
  t.match(stderr, /unknown scenario nonsense/)
})
