import t from 'tap'
import { Lockout } from '../src/lockout.js'

const at = (s: number): Date => new Date(Date.UTC(2030, 0, 1) + s * 1000)

t.test('a key locks on its maxFailures-th failure, for lockoutSeconds', async (t) => {
  const lockout = new Lockout({ maxFailures: 3, lockoutSeconds: 60 })
  t.same(lockout.fail('alice', at(0)), { locked: false })
  t.same(lockout.fail('alice', at(1)), { locked: false })
  t.same(lockout.fail('alice', at(2)), { locked: true, retryAfterSeconds: 60 })
  t.same(lockout.check('alice', at(32)), { locked: true, retryAfterSeconds: 30 })
  t.same(lockout.check('alice', at(61.5)), { locked: true, retryAfterSeconds: 1 }, 'Retry-After rounds up')
  t.same(lockout.check('alice', at(62)), { locked: false })
  t.same(lockout.check('bob', at(2)), { locked: false }, 'keys are independent')
})

t.test('after a lockout the count starts again', async (t) => {
  const lockout = new Lockout({ maxFailures: 2, lockoutSeconds: 10 })
  lockout.fail('k', at(0))
  lockout.fail('k', at(0))
  t.same(lockout.fail('k', at(10)), { locked: false }, 'first failure after the lockout')
  t.same(lockout.fail('k', at(11)), { locked: true, retryAfterSeconds: 10 })
})

t.test('failures are forgotten one lockout period after the last one, and on success', async (t) => {
  const lockout = new Lockout({ maxFailures: 2, lockoutSeconds: 10 })
  lockout.fail('slow', at(0))
  t.same(lockout.fail('slow', at(10)), { locked: false }, 'the old failure no longer counts')
  lockout.fail('ok', at(0))
  lockout.succeed('ok')
  t.same(lockout.fail('ok', at(1)), { locked: false })
  t.equal(new Lockout({ maxFailures: 1, lockoutSeconds: 1 }).size, 0)
})

t.test('memory is bounded: the least recently failed keys are forgotten first', async (t) => {
  const lockout = new Lockout({ maxFailures: 2, lockoutSeconds: 60, maxEntries: 3 })
  for (const key of ['a', 'b', 'c']) lockout.fail(key, at(0))
  lockout.fail('a', at(1))
  t.same(lockout.check('a', at(1)), { locked: true, retryAfterSeconds: 60 })
  lockout.fail('d', at(2))
  t.equal(lockout.size, 3)
  t.same(lockout.fail('b', at(3)), { locked: false }, 'b was evicted, so this is its first failure again')
  t.same(lockout.check('a', at(3)), { locked: true, retryAfterSeconds: 58 }, 'a, failed recently, is kept')
})
