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
  t.same(problems, ['figures.worker is missing', 'rows are missing'])
})
