import t from 'tap'
import { percentile, ratio, round, summarize } from '../src/stats.js'

t.test('percentiles are nearest-rank', async (t) => {
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1)
  t.equal(percentile(sorted, 50), 50)
  t.equal(percentile(sorted, 99), 99)
  t.equal(percentile(sorted, 100), 100)
  t.equal(percentile([7], 99), 7)
  t.ok(Number.isNaN(percentile([], 50)))
})

t.test('a summary sorts its samples and rounds to two decimals', async (t) => {
  t.same(summarize([3, 1, 2.3333]), { count: 3, mean: 2.11, p50: 2.33, p90: 3, p99: 3, max: 3 })
  t.equal(summarize([]).count, 0)
})

t.test('a ratio with nothing to divide by is NaN, not Infinity', async (t) => {
  t.equal(ratio(9, 10), 0.9)
  t.ok(Number.isNaN(ratio(1, 0)))
  t.ok(Number.isNaN(ratio(undefined, 1)))
  t.equal(round(1.23456, 3), 1.235)
})
