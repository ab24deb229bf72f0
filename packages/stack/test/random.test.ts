/** The seeded generator shared by the soak and the bench's simulation: a seed gives one sequence, and that sequence is mulberry32's. */
import t from 'tap'
import { Random } from '../src/random.js'

t.test('a seed gives the same draws every time, and they are mulberry32\'s', async (t) => {
  // Published first outputs of mulberry32 with seed 1: a seeded soak plan or simulation made before stays the same.
  const draws = (seed: number, n: number): number[] => { const r = new Random(seed); return Array.from({ length: n }, () => r.next()) }
  t.same(draws(1, 3), [0.6270739405881613, 0.002735721180215478, 0.5274470399599522])
  t.same(draws(42, 50), draws(42, 50))
  t.not(draws(42, 1)[0], draws(43, 1)[0], 'another seed, another sequence')
})

t.test('int, between and pick stay in their ranges; pick refuses an empty list', async (t) => {
  const r = new Random(7)
  for (let i = 0; i < 1000; i++) {
    const n = r.int(10)
    const x = r.between(5, 6)
    if (!Number.isInteger(n) || n < 0 || n >= 10 || x < 5 || x >= 6) t.fail(`out of range: ${n}, ${x}`)
  }
  t.ok(['a', 'b'].includes(r.pick(['a', 'b'])))
  t.throws(() => r.pick([]), RangeError)
})

t.test('poisson draws have the mean asked for, on both sides of the normal approximation', async (t) => {
  for (const mean of [0.5, 4, 200]) {
    const r = new Random(3)
    let sum = 0
    const n = 20_000
    for (let i = 0; i < n; i++) sum += r.poisson(mean)
    // Seeded, so not flaky: the sample mean of 20,000 draws is within 3 % of the mean.
    t.ok(Math.abs(sum / n - mean) < 0.03 * mean, `mean ${mean}: ${sum / n}`)
  }
  t.equal(new Random(3).poisson(0), 0)
})
