/**
 * The bench end to end with its tiniest load (`--smoke`): it must exit 0 and
 * write a well-formed result, to a folder of the test's own (never docs/).
 * Timing is not asserted: this runs in CI on a shared machine.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { problemsOf } from '../src/result.js'

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

async function run (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => { child.once('close', resolve) })
  return { code, stdout, stderr }
}

t.test('npm run bench -- --smoke runs every scenario and writes a well-formed result', async (t) => {
  const dir = t.testdir()
  const { code, stdout, stderr } = await run(['--smoke', '--out', dir])
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
  const { code, stderr } = await run(['--smoke', '--only', 'nonsense', '--out', t.testdir()])
  t.equal(code, 1)
  t.match(stderr, /unknown scenario nonsense/)
})
