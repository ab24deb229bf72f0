/**
 * `npm run soak -- [--quick] [options]`: runs the soak, prints the figures as
 * one table, writes them as JSON (--out) and Markdown (--markdown), and exits
 * 0 when every invariant holds, 1 when one does not, 2 when the run itself
 * could not be made (bad arguments, the system did not start).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { analyze, type Analysis } from './analyze.js'
import { parseOptions, USAGE, UsageError, type SoakOptions } from './options.js'
import { formatMarkdown, formatReport } from './report.js'
import { runSoak } from './soak.js'

const say = (text: string): void => { process.stderr.write(`[soak] ${text}\n`) }

let options: SoakOptions
try {
  options = parseOptions(process.argv.slice(2))
} catch (err) {
  if (!(err instanceof UsageError)) throw err
  if (err.message !== '') process.stderr.write(`${err.message}\n`)
  process.stderr.write(`${USAGE}\n`)
  process.exit(err.message === '' ? 0 : 2)
}

if (options.render !== undefined) {
  const saved = JSON.parse(await readFile(options.render, 'utf8')) as { when: string, options: SoakOptions, analysis: Analysis }
  process.stdout.write(formatReport(saved.options, saved.analysis) + '\n')
  if (options.markdown !== undefined) await writeFile(options.markdown, formatMarkdown(saved.options, saved.analysis, new Date(saved.when)))
  process.exit(saved.analysis.passed ? 0 : 1)
}

// Logs go to a file either way; a temporary one is removed when the run passes.
const keepLogs = options.logFile !== undefined
const logFile = resolve(options.logFile ?? join(tmpdir(), `codegate-soak-${Date.now()}.log`))
await mkdir(dirname(logFile), { recursive: true })
options.logFile = logFile

const abort = new AbortController()
let interrupted = 0
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second Ctrl-C leaves at once; the exit hook of @codegate/stack kills every child.
    if (interrupted++ > 0) process.exit(130)
    say(`${signal}: ending the soak early and stopping the system (again to force)`)
    abort.abort(new Error(signal))
  })
}

let record
try {
  record = await runSoak(options, { baseEnv: process.env, progress: say, signal: abort.signal })
} catch (err) {
  say(`the soak could not run: ${err instanceof Error ? err.message : String(err)}`)
  say(`logs: ${logFile}`)
  process.exit(2)
}

const analysis = analyze(record)
process.stdout.write(formatReport(options, analysis) + '\n')
const when = new Date(record.startedAt)
if (options.out !== undefined) {
  await mkdir(dirname(resolve(options.out)), { recursive: true })
  const { logFile: _, ...shown } = options
  await writeFile(options.out, JSON.stringify({ when: when.toISOString(), options: shown, analysis }, null, 2) + '\n')
  say(`figures written to ${options.out}`)
}
if (options.markdown !== undefined) {
  await mkdir(dirname(resolve(options.markdown)), { recursive: true })
  await writeFile(options.markdown, formatMarkdown(options, analysis, when))
  say(`Markdown written to ${options.markdown}`)
}
if (analysis.passed && !keepLogs && !abort.signal.aborted) await rm(logFile, { force: true })
else say(`logs of every process: ${logFile}`)
process.exit(abort.signal.aborted ? 130 : analysis.passed ? 0 : 1)
