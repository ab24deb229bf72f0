/** The profiles keep to the limits the soak depends on. */
import t from 'tap'
import { parseOptions, plannedEndSeconds, UsageError } from '../src/options.js'

for (const args of [['--quick'], []]) {
  const o = parseOptions(args)
  t.test(`the ${o.profile} profile`, async (t) => {
    t.ok(o.rate * o.ttlSeconds <= 500, 'rate × TTL (stored messages) stays well under Azurite\'s ~1,000 (emulators.md)')
    t.ok(o.bounds.visibilityMs + o.bounds.errorBackoffMs < o.ttlSeconds * 1000, 'a message held by a killed worker comes back before its code expires')
    for (const f of o.faults) t.ok(plannedEndSeconds(f, o.bounds) + o.bounds.recoveryMs / 1000 <= o.loadSeconds + 1, `${f.kind} ends in time to see the api recover`)
    // Faults run one after the other: one planned before the last is over would start late and push the rest.
    o.faults.slice(1).forEach((f, i) => {
      const before = o.faults[i] as (typeof o.faults)[number]
      t.ok(f.atSeconds >= plannedEndSeconds(before, o.bounds), `${f.kind} at ${f.atSeconds} s starts after ${before.kind} is over`)
    })
    t.same(new Set(o.faults.map((f) => f.kind)), new Set(['worker-kill', 'azurite-restart', 'number-api-down', 'vault-down', 'garbage', 'overload']), 'every kind of fault')
    t.equal(o.env.RATE_LIMIT_MAX, '1000000', 'the per-client limit does not refuse the soak\'s single address')
  })
}

t.test('the quick profile fits in 90 s with startup and drain', async (t) => {
  const o = parseOptions(['--quick'])
  const startup = 15
  t.ok(startup + o.loadSeconds + o.ttlSeconds + o.bounds.removalMs / 1000 + 10 <= 90)
})

t.test('--set overrides a service setting; the bounds follow it', async (t) => {
  const o = parseOptions(['--quick', '--set', 'WORKER_VISIBILITY_TIMEOUT_SECONDS=30', '--set', 'WORKER_MAX_BACKOFF_MS=2000'])
  t.equal(o.env.WORKER_VISIBILITY_TIMEOUT_SECONDS, '30')
  t.equal(o.bounds.visibilityMs, 30_000)
  t.equal(o.bounds.activationMs, 2000 + o.bounds.slackMs)
})

t.test('bad arguments are usage errors', async (t) => {
  t.throws(() => parseOptions(['--rate', 'fast']), UsageError)
  t.throws(() => parseOptions(['--set', 'NOVALUE']), UsageError)
  t.throws(() => parseOptions(['--bogus']), UsageError)
  t.throws(() => parseOptions(['--duration', '10']), /does not end within/)
  t.equal(parseOptions(['--duration', '10', '--no-faults']).faults.length, 0)
})

t.test('--shards and --workers set the queue shards of api and workers and the worker count', async (t) => {
  const o = parseOptions(['--quick', '--shards', '4', '--workers', '3'])
  t.equal(o.env.QUEUE_SHARDS, '4')
  t.equal(o.workers, 3)
  const plain = parseOptions(['--quick'])
  t.equal(plain.env.QUEUE_SHARDS, undefined, 'one shard: the variable is left unset')
  t.equal(plain.workers, 2)
  t.throws(() => parseOptions(['--quick', '--workers', '1']), /kills worker 2, but --workers is 1/)
  t.equal(parseOptions(['--quick', '--workers', '1', '--no-faults']).workers, 1)
})
