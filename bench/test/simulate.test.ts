/** The capacity simulation: one seed, one output; and it finds the ceilings the model computes. */
import t from 'tap'
import { ceilings, PER_CODE, plan } from '../src/capacity.js'
import { report, sustained } from '../src/simulate-cli.js'
import { DEFAULT_OPTIONS, simulate, type Scenario } from '../src/simulate.js'

const quick = { ...DEFAULT_OPTIONS, seconds: 14, ttlSeconds: 6 }
const small: Scenario[] = [
  { name: 'a', rate: 100, shards: 1, workers: 1, apiReplicas: 1, signIn: true },
  { name: 'b', rate: 900, shards: 4, workers: 7, apiReplicas: 5, signIn: false }
]

t.test('the same seed gives the same report, byte for byte; another seed another one', async (t) => {
  const first = report(7, { seconds: 14, ttlSeconds: 6 }, small)
  t.equal(report(7, { seconds: 14, ttlSeconds: 6 }, small), first)
  t.not(report(8, { seconds: 14, ttlSeconds: 6 }, small), first)
  t.match(first, /\| a \| 100 \| 1 × 1 × 1 \|/)
})

t.test('one queue carries the model\'s codes/s and no more: below it sustained, above it the queue binds', async (t) => {
  const perQueue = ceilings(PER_CODE.signedIn, true).perQueue
  t.equal(perQueue, 400, '2,000 messages/s over the 5 message touches of a code')
  const config = { shards: 1, workers: 8, apiReplicas: 8, signIn: true }
  const below = simulate({ name: 'below', rate: perQueue * 0.85, ...config }, quick)
  const above = simulate({ name: 'above', rate: perQueue * 1.2, ...config }, quick)
  t.ok(sustained(below), `0.85 × ceiling: activated ${below.activatedPerSecond}/s, backlog ${below.backlogGrowthPerSecond}/s`)
  t.notOk(sustained(above), `1.2 × ceiling: activated ${above.activatedPerSecond}/s, backlog ${above.backlogGrowthPerSecond}/s`)
  t.equal(above.binds, 'queue shard')
})

t.test('the same rate over four shards is sustained', async (t) => {
  const r = simulate({ name: 'sharded', rate: 480, shards: 4, workers: 8, apiReplicas: 8, signIn: true }, quick)
  t.ok(sustained(r))
  t.ok(r.utilization['queue shard'] < 0.5, `busiest shard at ${r.utilization['queue shard']}`)
})

t.test('the sizes grow with the rate, and 10,000 codes/s needs more than one storage account', async (t) => {
  t.match(plan(100, true), { shards: 1, workers: 1, apiReplicas: 1, accounts: 1 })
  const k = plan(1000, true)
  t.ok(k.shards > 1 && k.accounts === 1)
  t.ok(plan(10_000, true).accounts > 1)
})
