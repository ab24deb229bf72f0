/**
 * `npm run bench:tracing [-- --quick] [--out DIR] [--driver auto|builtin|autocannon]`
 *
 * What tracing and OpenTelemetry metrics cost getcode (scenarios/tracing.ts):
 * getcode/s of the api with an OTLP exporter set (every trace kept, and 5 %
 * kept as infra/deploy.sh sets it) ÷ the same api without, in one run, with
 * the node flags the containers use. Writes bench/results/tracing.json (or
 * tracing-quick.json) and prints the figures; the page docs/benchmarks.md is
 * written by hand from them.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { repositoryRoot } from '@codegate/stack'
import type { Driver } from './children/load.js'
import { BenchRun } from './machine.js'
import { RECOMMENDED_NODE_FLAGS } from './scenarios/memory.js'
import { runTracing } from './scenarios/tracing.js'

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      driver: { type: 'string', default: 'auto' }
    }
  })
  if (!['auto', 'builtin', 'autocannon'].includes(values.driver)) throw new Error(`unknown driver ${values.driver}`)
  const quick = values.quick
  const outDir = values.out !== undefined ? resolve(values.out) : join(repositoryRoot(), 'bench', 'results')
  const run = new BenchRun('bench:tracing')
  console.log(`bench:tracing ${quick ? 'quick' : 'full'}; ${run.loadBefore.uptime}`)
  const figures = await runTracing({
    baseEnv: process.env,
    driver: values.driver as Driver,
    nodeFlags: RECOMMENDED_NODE_FLAGS,
    concurrencies: quick ? [32] : [16, 32, 64],
    repeats: quick ? 2 : 3,
    durationMs: quick ? 2000 : 5000,
    warmupMs: quick ? 500 : 1000,
    log: (line) => { console.log(line) }
  })
  const result = { ...run.record(), figures }
  await mkdir(outDir, { recursive: true })
  const file = join(outDir, quick ? 'tracing-quick.json' : 'tracing.json')
  await writeFile(file, JSON.stringify(result, null, 2) + '\n')
  console.log('| concurrency | off (getcode/s) | traced, all kept | ratio | traced, 5 % kept | ratio |')
  console.log('|---:|---:|---:|---:|---:|---:|')
  for (const row of figures.byConcurrency) {
    console.log(`| ${row.concurrency} | ${row.off} | ${row.sampledAll} | ${row.ratioAll} | ${row.sampled5} | ${row.ratio5} |`)
  }
  console.log(`best traced (all kept) ÷ best off: ${figures.ratioAll} (target ≥ ${figures.target}: ${figures.met ? 'met' : 'NOT met'}); 5 % kept: ${figures.ratio5}`)
  console.log(`the sink received ${figures.exported.traceRequests} trace and ${figures.exported.metricRequests} metric exports, ${figures.exported.bytes} bytes`)
  console.log(`wrote ${file}; ${result.loadAfter.uptime}`)
  return figures.exported.traceRequests > 0 ? 0 : 1
}

main().then((code) => { process.exit(code) }, (err: unknown) => {
  console.error(`bench:tracing: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  process.exit(1)
})
