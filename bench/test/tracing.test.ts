import t from 'tap'
import { tracingFigures, type TracingRun } from '../src/scenarios/tracing.js'

const run = (target: TracingRun['target'], concurrency: number, rps: number): TracingRun =>
  ({ target, concurrency, rps, errors: 0, latency: { count: 1, mean: 1, p50: 1, p90: 1, p99: 1, max: 1 } })

t.test('each target counts its best run, per concurrency and overall', async (t) => {
  const figures = tracingFigures([
    run('off', 16, 500), run('off', 16, 520), run('sampled-all', 16, 470), run('sampled-5%', 16, 515),
    run('off', 32, 600), run('sampled-all', 32, 540), run('sampled-all', 32, 580), run('sampled-5%', 32, 590)
  ], [16, 32], { traceRequests: 3, metricRequests: 1, bytes: 100 })
  t.same(figures.byConcurrency, [
    { concurrency: 16, off: 520, sampledAll: 470, sampled5: 515, ratioAll: 0.9, ratio5: 0.99 },
    { concurrency: 32, off: 600, sampledAll: 580, sampled5: 590, ratioAll: 0.97, ratio5: 0.98 }
  ])
  t.equal(figures.ratioAll, 0.97, 'best traced 580 ÷ best off 600')
  t.equal(figures.ratio5, 0.98)
  t.equal(figures.met, true, '0.97 meets the 0.95 target')
})

t.test('below 0.95 is not met; a target with no run counts as 0', async (t) => {
  const figures = tracingFigures([run('off', 32, 600), run('sampled-all', 32, 560)], [32], { traceRequests: 0, metricRequests: 0, bytes: 0 })
  t.equal(figures.ratioAll, 0.93)
  t.equal(figures.met, false)
  t.equal(figures.ratio5, 0)
})
