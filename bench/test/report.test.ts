import t from 'tap'
import { BEGIN, END, replaceSection, rowsOf, summaryTable } from '../src/report.js'
import { problemsOf } from '../src/result.js'

t.test('a run replaces only the part between the markers', async (t) => {
  const doc = `# Benchmarks\n\nProse before.\n\n${BEGIN}\nold table\n${END}\n\nProse after.\n`
  const next = replaceSection(doc, 'new table')
  t.match(next, /Prose before\.[\s\S]*new table[\s\S]*Prose after\./)
  t.notMatch(next, /old table/)
  t.equal(replaceSection(next, 'newer'), replaceSection(doc, 'newer'), 'idempotent')
  t.match(replaceSection('# Benchmarks\n', 'first'), new RegExp(`${BEGIN.replace(/[()`]/g, '.')}\nfirst\n${END}`), 'a doc without markers gets them appended')
})

t.test('each figure becomes summary rows with its baseline and verdict', async (t) => {
  const rows = rowsOf({
    figures: {
      worker: { batchSize: 32, maxInFlight: 64, runs: [], ratios: [{ backlog: 256, bareLoop: 200, worker: 190, ratio: 0.95, bareLoopPerCoreSecond: 300, workerPerCoreSecond: 270, perCoreSecondRatio: 0.9 }], ratio: 0.95, target: 0.9, met: true, workerMemory: undefined, bareLoopMemory: undefined }
    }
  })
  t.equal(rows.length, 2)
  t.match(rows[0], { figure: '2. worker activations/s, backlog 256', measured: '190/s', baseline: 'bare loop 200/s', ratio: 0.95, met: true })
  t.match(summaryTable(rows), /\| 2\. worker activations\/s, backlog 256 \| 190\/s \| bare loop 200\/s \| 0\.95 \| ≥ 0\.9 × bare loop \| met \|/)
})

t.test('a result missing a figure it was asked for is not well formed', async (t) => {
  t.same(problemsOf(null), ['not an object'])
  const problems = problemsOf({ version: 1, mode: 'smoke', command: 'x', startedAt: 'a', finishedAt: 'b', wallSeconds: 1, machine: { cores: 2 }, loadBefore: { loadAverage: [] }, loadAfter: { loadAverage: [] }, figures: {}, rows: [] }, ['worker'])
  t.same(problems, ['machine.node is not the Node version the run was measured on', 'figures.worker is missing', 'rows are missing'])
})

t.test('the cost of the shipped heap flags is a row with a 5 % target', async (t) => {
  const best = (rps: number, concurrency: number): { concurrency: number, rps: number, p50: number, p99: number, perCoreSecond: number } => ({ concurrency, rps, p50: 1, p99: 2, perCoreSecond: 1 })
  const getcode = {
    driver: 'builtin', durationMs: 1000, runs: [], ratioToBareLoop: 0.9, perCoreSecondRatio: 1, ratioToFastifyConstant: 0.01, target: 0.9, met: true, apiMemory: undefined, bareLoopMemory: undefined,
    best: { getcode: best(772, 32), 'getcode-shipped': best(686, 32), 'bare-loop': best(800, 32), 'fastify-constant': best(9000, 32) },
    auth: { ratio: 1, target: 0.95, met: true },
    shippedFlags: { nodeFlags: ['--max-old-space-size=96'], asShipped: true, byConcurrency: [{ concurrency: 32, withFlags: 686, without: 772, ratio: 0.89 }], ratio: 0.89, perCoreSecondRatio: 0.9, target: 0.95, met: false, apiMemory: undefined }
  }
  const row = rowsOf({ figures: { getcode } }).find((r) => r.figure.includes('heap flags'))
  t.match(row, { figure: '1. getcode with the heap flags `--max-old-space-size=96` (as shipped)', measured: '686/s (c=32); by concurrency c=32 0.89', baseline: 'the same api without them 772/s (c=32)', ratio: 0.89, target: '≥ 0.95 × without', met: false })
})

t.test('a memory figure without a single run is a problem, not a vacuous pass', async (t) => {
  const base = { version: 1, mode: 'smoke', command: 'x', startedAt: 'a', finishedAt: 'b', wallSeconds: 1, machine: { cores: 2, node: 'v20.19.0' }, loadBefore: { loadAverage: [] }, loadAfter: { loadAverage: [] }, rows: [{ figure: 'f', measured: 'm' }] }
  t.same(problemsOf({ ...base, figures: { memory: { runs: [] } } }, ['memory']), ['memory: no run was made'])
  t.same(problemsOf({ ...base, figures: { memory: { runs: [{ api: { rssMb: 50 }, worker: { rssMb: 0 } }] } } }, ['memory']), ['memory: a reading is missing'])
  t.same(problemsOf({ ...base, figures: { memory: { runs: [{ api: { rssMb: 50 }, worker: { rssMb: 40 } }] } } }, ['memory']), [])
})
