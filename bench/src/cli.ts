/**
 * `npm run bench [-- --quick | --smoke] [--out DIR] [--only a,b] [--driver builtin|autocannon]
 *  [--node-flags "..."] [--compare-flags "..."] [--profile DIR] [--api-log-level LEVEL]`
 *
 * Runs the scenarios, prints a summary table, and writes the JSON result and
 * the markdown: a full run to bench/results/full.json and docs/benchmarks.md
 * (between its markers), other modes to bench/results/<mode>.{json,md}, or
 * all of it to --out DIR. Exits 0 when every scenario ran, whether or not its
 * target was met (timing is not a test); 1 when one could not run.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { repositoryRoot } from '@codegate/stack'
import type { Driver } from './children/load.js'
import { glueDashValues } from './flag-args.js'
import { load, machine } from './machine.js'
import { MODES, type ModeName } from './modes.js'
import { replaceSection, resultMarkdown, rowsOf, summaryTable } from './report.js'
import { problemsOf, SCENARIOS, type BenchResult, type Scenario } from './result.js'
import { runGetcode } from './scenarios/getcode.js'
import { runLatency } from './scenarios/latency.js'
import { RECOMMENDED_NODE_FLAGS, RECOMMENDED_WORKER_NODE_FLAGS, runMemory } from './scenarios/memory.js'
import { runTransactions } from './scenarios/transactions.js'
import { runWorker } from './scenarios/worker.js'

const USAGE = `usage: npm run bench -- [--quick | --smoke] [--out DIR] [--only ${SCENARIOS.join(',')}]
                       [--driver auto|builtin|autocannon] [--node-flags "FLAGS"] [--compare-flags "FLAGS"] [--profile DIR]
                       [--api-log-level LEVEL]`

const API_TARGET_MB = 120
const WORKER_TARGET_MB = 100

async function main (): Promise<number> {
  const { values } = parseArgs({
    args: glueDashValues(process.argv.slice(2), ['--node-flags', '--compare-flags']),
    options: {
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      out: { type: 'string' },
      only: { type: 'string' },
      driver: { type: 'string', default: 'auto' },
      'node-flags': { type: 'string', default: '' },
      'compare-flags': { type: 'string' },
      profile: { type: 'string' },
      'api-log-level': { type: 'string' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) { console.log(USAGE); return 0 }
  if (values.quick && values.smoke) throw new Error('--quick and --smoke exclude each other')
  const modeName: ModeName = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'
  const mode = MODES[modeName]
  const only = values.only !== undefined ? values.only.split(',').map((s) => s.trim()) : [...SCENARIOS]
  const unknown = only.filter((s) => !(SCENARIOS as readonly string[]).includes(s))
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`)
  const scenarios = only as Scenario[]
  if (!['auto', 'builtin', 'autocannon'].includes(values.driver)) throw new Error(`unknown driver ${values.driver}`)
  const driver = values.driver as Driver
  const profileDir = values.profile !== undefined ? resolve(values.profile) : undefined
  const nodeFlags = [
    ...values['node-flags'].split(' ').filter((f) => f !== ''),
    ...(profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])
  ]
  if (profileDir !== undefined) await mkdir(profileDir, { recursive: true })

  const root = repositoryRoot()
  const outDir = values.out !== undefined ? resolve(values.out) : join(root, 'bench', 'results')
  const jsonFile = join(outDir, values.out !== undefined ? 'benchmarks.json' : `${modeName}.json`)
  const markdownFile = values.out !== undefined ? join(outDir, 'benchmarks.md') : modeName === 'full' ? join(root, 'docs', 'benchmarks.md') : join(outDir, `${modeName}.md`)

  const log = (line: string): void => { console.log(line) }
  const started = new Date()
  const loadBefore = load()
  log(`bench: mode ${modeName}, scenarios ${scenarios.join(', ')}; ${loadBefore.uptime}`)
  const figures: BenchResult['figures'] = {}
  if (scenarios.includes('getcode')) {
    const compareFlags = values['compare-flags']?.split(' ').filter((f) => f !== '')
    figures.getcode = await runGetcode(mode, { baseEnv: process.env, driver, nodeFlags, ...(compareFlags !== undefined ? { compareFlags } : {}), ...(profileDir !== undefined ? { profileDir } : {}), ...(values['api-log-level'] !== undefined ? { apiLogLevel: values['api-log-level'] } : {}), log })
  }
  if (scenarios.includes('worker')) figures.worker = await runWorker(mode, { baseEnv: process.env, nodeFlags, log })
  if (scenarios.includes('transactions')) figures.transactions = await runTransactions(mode, { baseEnv: process.env, nodeFlags, log })
  if (scenarios.includes('latency')) figures.latency = await runLatency(mode, { baseEnv: process.env, nodeFlags, log })
  if (scenarios.includes('memory')) {
    const flagSets = mode.memory.flagSets.map((set) => set === 'default'
      ? { api: nodeFlags, worker: nodeFlags }
      : { api: [...nodeFlags, ...RECOMMENDED_NODE_FLAGS], worker: [...nodeFlags, ...RECOMMENDED_WORKER_NODE_FLAGS] })
    const runs = await runMemory(mode, { baseEnv: process.env, driver, flagSets, log })
    const plain = runs.find((r) => r.nodeFlags.length === nodeFlags.length)
    const max = (...xs: (number | undefined)[]): number | undefined => {
      const known = xs.filter((x): x is number => x !== undefined && Number.isFinite(x))
      return known.length > 0 ? Math.max(...known) : undefined
    }
    const endOfLoad = {
      api: max(figures.getcode?.apiMemory?.rssMb, figures.latency?.memory.api?.rssMb, plain?.api?.rssMb),
      worker: max(figures.worker?.workerMemory?.rssMb, figures.latency?.memory.worker?.rssMb, plain?.worker?.rssMb),
      bareGetcodeLoop: figures.getcode?.bareLoopMemory?.rssMb,
      bareWorkerLoop: figures.worker?.bareLoopMemory?.rssMb
    }
    const recommended = runs.find((r) => r.nodeFlags.length > nodeFlags.length)
    figures.memory = {
      runs,
      endOfLoad,
      targets: { apiMb: API_TARGET_MB, workerMb: WORKER_TARGET_MB },
      met: (endOfLoad.api ?? Infinity) <= API_TARGET_MB && (endOfLoad.worker ?? Infinity) <= WORKER_TARGET_MB,
      metWithRecommendedFlags: recommended === undefined ? null : (recommended.api?.rssMb ?? Infinity) <= API_TARGET_MB && (recommended.worker?.rssMb ?? Infinity) <= WORKER_TARGET_MB,
      recommendedFlags: RECOMMENDED_NODE_FLAGS
    }
  }
  const finished = new Date()
  const result: BenchResult = {
    version: 1,
    mode: modeName,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    wallSeconds: Math.round((finished.getTime() - started.getTime()) / 100) / 10,
    machine: machine(),
    loadBefore,
    loadAfter: load(),
    nodeFlags,
    apiLogLevel: values['api-log-level'] ?? 'info',
    figures,
    rows: []
  }
  result.rows = rowsOf(result)

  await mkdir(outDir, { recursive: true })
  await mkdir(dirname(markdownFile), { recursive: true })
  await writeFile(jsonFile, JSON.stringify(result, null, 2) + '\n')
  const generated = resultMarkdown(result)
  if (markdownFile.endsWith(join('docs', 'benchmarks.md'))) {
    const doc = await readFile(markdownFile, 'utf8').catch(() => '# Benchmarks\n')
    await writeFile(markdownFile, replaceSection(doc, generated))
  } else {
    await writeFile(markdownFile, `# codegate benchmarks (${modeName})\n\n${generated}\n`)
  }

  console.log(`\n${summaryTable(result.rows)}\n`)
  console.log(`${result.loadAfter.uptime}`)
  console.log(`wrote ${jsonFile} and ${markdownFile} in ${result.wallSeconds} s`)
  const problems = problemsOf(result, scenarios)
  if (problems.length > 0) {
    console.error(`bench: the result is incomplete: ${problems.join('; ')}`)
    return 1
  }
  return 0
}

main().then((code) => { process.exit(code) }, (err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  process.exit(1)
})
