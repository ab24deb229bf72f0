import t from 'tap'
import { Backoff } from '../src/backoff.js'

t.test('waits double from min to max, each drawn from the upper half of its range', async (t) => {
  const low = new Backoff(50, 1000, () => 0)
  t.same(Array.from({ length: 7 }, () => low.next()), [25, 50, 100, 200, 400, 500, 500])
  const high = new Backoff(50, 1000, () => 1)
  t.same(Array.from({ length: 7 }, () => high.next()), [50, 100, 200, 400, 800, 1000, 1000])
})

t.test('never waits longer than max: the worst-case activation delay of an idle worker', async (t) => {
  const backoff = new Backoff(50, 1000)
  const waits = Array.from({ length: 1000 }, () => backoff.next())
  t.ok(Math.max(...waits) <= 1000)
  t.ok(new Set(waits.slice(10)).size > 10, 'randomized, so workers drift apart')
})

t.test('reset starts again from min after work was found', async (t) => {
  const backoff = new Backoff(50, 1000, () => 1)
  for (let i = 0; i < 10; i++) backoff.next()
  backoff.reset()
  t.equal(backoff.next(), 50)
})

t.test('a max below the usual min is a valid, fixed wait', async (t) => {
  t.same(Array.from({ length: 3 }, () => new Backoff(10, 10, () => 1).next()), [10, 10, 10])
  t.throws(() => new Backoff(0, 10), RangeError)
  t.throws(() => new Backoff(20, 10), RangeError)
})
