import t from 'tap'
import { clientAddress } from '../src/client-address.js'
import { MemoryLimitStore, SignInLimits, emptyState, fail, lapsesAt, prune, reserve, type LimitRules } from '../src/limits.js'

const RULES: LimitRules = { maxFailures: 3, subjectMaxFailures: 2, lockoutSeconds: 60, holdMs: 5000 }
const at = (s: number): number => Date.UTC(2030, 0, 1) + s * 1000

function limitsAt (clock: { now: number }, rules: LimitRules = RULES): SignInLimits {
  const now = (): Date => new Date(clock.now)
  return new SignInLimits(new MemoryLimitStore(rules, now), rules, now)
}

t.test('client addresses: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by /64', async (t) => {
  t.equal(clientAddress('203.0.113.7'), '203.0.113.7')
  t.equal(clientAddress('::ffff:203.0.113.7'), '203.0.113.7')
  t.equal(clientAddress('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  t.equal(clientAddress('2001:DB8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64', 'every address of the /64 is one client')
  t.not(clientAddress('2001:db8:1:3::1'), clientAddress('2001:db8:1:2::1'), 'the next /64 is another')
})

t.test('an address locks on its maxFailures-th failure, whatever subjects it names, for lockoutSeconds', async (t) => {
  const clock = { now: at(0) }
  const limits = limitsAt(clock)
  for (let i = 0; i < 3; i++) {
    const r = await limits.reserve('198.51.100.1', `user-${i}`)
    if (!r.ok) throw new Error('refused')
    await limits.fail(r.ticket)
  }
  t.same(await limits.reserve('198.51.100.1', 'someone-else'), { ok: false, reason: 'locked', retryAfterSeconds: 60 })
  t.same(await limits.reserve('198.51.100.1', undefined), { ok: false, reason: 'locked', retryAfterSeconds: 60 })
  t.match(await limits.reserve('198.51.100.2', 'user-0'), { ok: true }, 'another address is not locked')
  clock.now = at(59.5)
  t.same(await limits.reserve('198.51.100.1', undefined), { ok: false, reason: 'locked', retryAfterSeconds: 1 }, 'Retry-After rounds up')
  clock.now = at(60)
  t.match(await limits.reserve('198.51.100.1', undefined), { ok: true }, 'the lock ends')
})

t.test('a subject is locked only for the address that failed it', async (t) => {
  const clock = { now: at(0) }
  const limits = limitsAt(clock)
  for (let i = 0; i < 2; i++) {
    const r = await limits.reserve('198.51.100.1', 'alice')
    if (!r.ok) throw new Error('refused')
    await limits.fail(r.ticket)
  }
  t.same(await limits.reserve('198.51.100.1', 'alice'), { ok: false, reason: 'locked', retryAfterSeconds: 60 })
  t.match(await limits.reserve('198.51.100.1', 'bob'), { ok: true }, 'the address may still try other subjects')
  t.match(await limits.reserve('192.0.2.9', 'alice'), { ok: true }, 'alice herself, elsewhere, is not locked out')
})

t.test('reservations count until settled: parallel attempts get at most the limit', async (t) => {
  const clock = { now: at(0) }
  const limits = limitsAt(clock)
  const all = await Promise.all(Array.from({ length: 10 }, async () => await limits.reserve('198.51.100.1', undefined)))
  t.equal(all.filter((r) => r.ok).length, 3, 'three go ahead')
  t.match(all.find((r) => !r.ok), { reason: 'busy', retryAfterSeconds: 5 }, 'the others wait for the hold')
  const first = all[0]
  if (first?.ok !== true) throw new Error('refused')
  limits.succeed(first.ticket)
  t.match(await limits.reserve('198.51.100.1', undefined), { ok: true }, 'a settled reservation frees its place')
  clock.now = at(5)
  t.match(await limits.reserve('198.51.100.1', undefined), { ok: true }, 'unsettled ones lapse after the hold')
})

t.test('failures are forgotten one window after the last one; lapsesAt says when a record means nothing', async (t) => {
  let state = emptyState()
  const r = reserve(state, undefined, 'a', at(0), RULES)
  if (!('state' in r)) throw new Error('refused')
  state = fail(r.state, 'a', undefined, at(0), RULES)
  t.equal(state.counter.failures, 1)
  t.equal(state.pending.length, 0, 'the reservation became the failure')
  t.equal(lapsesAt(state, RULES), at(60))
  t.equal(prune(state, at(59), RULES).counter.failures, 1)
  t.equal(prune(state, at(60), RULES).counter.failures, 0)
  t.equal(lapsesAt(emptyState(), RULES), 0)
})

t.test('memory is bounded: the least recently changed addresses are forgotten first', async (t) => {
  const now = (): Date => new Date(at(0))
  const store = new MemoryLimitStore(RULES, now, 2)
  const limits = new SignInLimits(store, RULES, now)
  for (const ip of ['a', 'b', 'c']) await limits.reserve(ip, undefined)
  t.equal(store.size, 2)
})
