/**
 * `npm run bench:overload [-- --quick] [--out DIR] [--peak C,C] [--config NAME:VAR=V,VAR=V ...]`
 *
 * The overload scenario (scenarios/overload.ts): the api before load shedding
 * (its limits off, as on main before it) and after (the defaults of services/api/src/config.ts), at
 * 4× and 16× the concurrency where getcode peaks, with the node flags the
 * containers use. A full run writes bench/results/overload.json and its
 * section of docs/benchmarks.md; --quick (shorter runs) and --out write
 * elsewhere and leave the page alone.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { repositoryRoot } from '@codegate/stack'
import { BenchRun } from './machine.js'
import { RECOMMENDED_NODE_FLAGS } from './scenarios/memory.js'
import { runOverload, UNBOUNDED_ENV, type OverloadConfig } from './scenarios/overload.js'
import { overloadMarkdown, replaceOverloadSection } from './overload-report.js'

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      config: { type: 'string', multiple: true },
      peak: { type: 'string' }
    }
  })
  const configs: OverloadConfig[] = [{ name: 'before', env: UNBOUNDED_ENV }, { name: 'after', env: {} }]
  // --config NAME:VAR=V,VAR=V adds an api configuration to compare (e.g. other limits).
  for (const spec of values.config ?? []) {
    const colon = spec.indexOf(':')
    if (colon < 1) throw new Error(`--config NAME:VAR=V,VAR=V, not ${spec}`)
    const vars = spec.slice(colon + 1).split(',').filter((v) => v.includes('='))
    configs.push({ name: spec.slice(0, colon), env: Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)])) })
  }
  const quick = values.quick
  const root = repositoryRoot()
  const outDir = values.out !== undefined ? resolve(values.out) : join(root, 'bench', 'results')
  const run = new BenchRun('bench:overload')
  console.log(`bench:overload ${quick ? 'quick' : 'full'}; ${run.loadBefore.uptime}`)
  const figures = await runOverload({
    baseEnv: process.env,
    peakConcurrencies: values.peak !== undefined ? values.peak.split(',').map(Number) : quick ? [32, 64] : [16, 32, 64, 128],
    multiples: [4, 16],
    clients: ['impatient', 'polite'],
    durationMs: quick ? 3000 : 8000,
    warmupMs: quick ? 1000 : 2000,
    configs,
    nodeFlags: RECOMMENDED_NODE_FLAGS,
    log: (line) => { console.log(line) }
  })
  const result = { ...run.record(), figures }
  await mkdir(outDir, { recursive: true })
  const name = quick ? 'overload-quick' : 'overload'
  await writeFile(join(outDir, `${name}.json`), JSON.stringify(result, null, 2) + '\n')
  const markdown = overloadMarkdown(result)
  if (!quick && values.out === undefined) {
    const page = join(root, 'docs', 'benchmarks.md')
    await writeFile(page, replaceOverloadSection(await readFile(page, 'utf8'), markdown))
    console.log(`wrote ${join(outDir, `${name}.json`)} and docs/benchmarks.md`)
  } else {
    await writeFile(join(outDir, `${name}.md`), markdown + '\n')
    console.log(`wrote ${join(outDir, `${name}.{json,md}`)}`)
  }
  console.log(markdown)
  console.log(result.loadAfter.uptime)
  return 0
}

main().then((code) => { process.exit(code) }, (err: unknown) => {
  console.error(`bench:overload: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  process.exit(1)
})
