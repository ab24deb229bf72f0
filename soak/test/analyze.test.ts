/**
 * The soak's judge on made-up records: each rule fails on the case it is
 * there for and lets the legitimate look-alike pass.
 */
import t from 'tap'
import { analyze, stats, windowsOf, type Analysis } from '../src/analyze.js'
import type { FaultRecord, IssuedCode, SignInAttempt, SoakRecord } from '../src/records.js'
import type { WorkerEvent } from '../src/worker-events.js'
import { attackFrom, baseline, bounds, checkedRefusals, code, codes4, options, recordWith, T0, TTL } from './fixtures/records.js'

const failing = (a: Analysis): string[] => a.invariants.filter((i) => !i.pass).map((i) => i.id)

t.test('a clean run passes every invariant', async (t) => {
  const codes = codes4()
  const a = analyze(recordWith(codes, { signIns: baseline(codes[0] as IssuedCode) }))
  t.same(failing(a), [])
  t.equal(a.codes.validWithinBound, 4)
})

t.test('the attacker: an approved guess fails, and so does an address with more guesses judged than the limit', async (t) => {
  const codes = codes4()
  const signIns = baseline(codes[0] as IssuedCode)
  const limit = options.attack.maxJudgedPerAddress
  const atLimit = analyze(recordWith(codes, { signIns, attack: attackFrom('13.0.0.2', ...Array<number>(limit).fill(401), 429, 429) }))
  t.same(failing(atLimit), [], 'the limit itself is allowed')
  t.equal(atLimit.attack.maxJudgedPerAddress, limit)
  const over = analyze(recordWith(codes, { signIns, attack: attackFrom('13.0.0.3', ...Array<number>(limit + 1).fill(401)) }))
  t.same(failing(over), ['attack-over-limit'])
  t.match(over.invariants.find((i) => i.id === 'attack-over-limit')?.examples?.[0], /13\.0\.0\.3: \d+ guesses judged/)
  const approved = analyze(recordWith(codes, { signIns, attack: attackFrom('13.0.0.4', 401, 200) }))
  t.same(failing(approved), ['attack-approved'])
  const none = analyze(recordWith(codes, { signIns, attack: [] }))
  t.ok(failing(none).includes('attack-approved'), 'a run whose attacker sent nothing does not pass')
})

t.test('a code never seen valid before its expiry fails, wherever it was issued', async (t) => {
  const codes = codes4()
  const { seenAt: _, seenBy: __, ...unseen } = code(4, 500)
  const azurite: FaultRecord = { kind: 'azurite-restart', target: 'azurite', plannedAt: T0, startedAt: T0, downAt: T0 + 300, upAt: T0 + 3000, endedAt: T0 + 3000 }
  const a = analyze(recordWith([...codes, unseen], { signIns: baseline(codes[1] as IssuedCode), faults: [azurite] }))
  t.ok(failing(a).includes('never-valid'))
  t.match(a.invariants.find((i) => i.id === 'never-valid')?.examples?.[0], unseen.codeId)
  t.notMatch(JSON.stringify(a), unseen.code, 'examples name codes by id only')
})

t.test('a late activation fails outside fault windows and is allowed inside one', async (t) => {
  const late = code(9, 20_000, {}, bounds.activationMs + 500)
  const signIns = baseline(late)
  t.ok(failing(analyze(recordWith([late], { signIns }))).includes('late-outside-window'))

  const kill: FaultRecord = { kind: 'worker-kill', target: 'worker', plannedAt: late.issuedAt, startedAt: late.issuedAt + 200, downAt: late.issuedAt + 250, upAt: late.issuedAt + 3000, endedAt: late.issuedAt + 3000 }
  const a = analyze(recordWith([late], { signIns, faults: [kill] }))
  t.notOk(failing(a).includes('late-outside-window'), 'issued just before a worker kill')
  t.equal(a.codes.validLateInWindow, 1)
})

t.test('the activation time is the earliest proof: a worker\'s activated event beats a later table read', async (t) => {
  const c = code(0, 0, {}, bounds.activationMs + 2000)
  const record = recordWith([c], {
    signIns: baseline(c),
    logs: {
      ...recordWith([]).logs,
      issued: [{ time: c.issuedAt, codeId: c.codeId, expiresAt: new Date(c.expiresAt).toISOString(), messageId: 'm1' }]
    },
    workerEvents: { ...recordWith([]).workerEvents, events: [{ name: 'activated', process: 'worker', at: c.issuedAt + 80, messageId: 'm1', dequeueCount: 1, inserted: true, lagMs: 80, lost: false }] }
  })
  const a = analyze(record)
  t.same(failing(a), [])
  t.equal(a.latency.activation.max, 80)
})

t.test('sign-ins: approved after expiry fails; refused within the margin of expiry is a boundary case', async (t) => {
  const c = code(0, 0, { plan: 'once' })
  const late: SignInAttempt = { n: 0, kind: 'after-expiry', sentAt: c.expiresAt + 1, answeredAt: c.expiresAt + 20, status: 200, row: 'present' }
  t.ok(failing(analyze(recordWith([c], { signIns: [...baseline(c), late] }))).includes('accepted-after-expiry'))

  const near: SignInAttempt = { n: 0, kind: 'valid', sentAt: c.expiresAt - 300, answeredAt: c.expiresAt - bounds.boundaryMarginMs + 10, status: 401, row: 'present' }
  const [valid, after] = baseline(c) as [SignInAttempt, SignInAttempt]
  const a = analyze(recordWith([c], { signIns: [near, { ...valid, n: 0 }, after] }))
  t.notOk(failing(a).includes('valid-refused'))
  t.equal(a.signIns.boundary, 1)
})

t.test('sign-ins: refusing a code the table showed valid and unused fails; refusing one not yet there does not', async (t) => {
  const c = code(0, 0)
  const [valid, after] = baseline(c) as [SignInAttempt, SignInAttempt]
  t.ok(failing(analyze(recordWith([c], { signIns: [{ ...valid, status: 401 }, after] }))).includes('valid-refused'))

  const early: SignInAttempt = { n: 0, kind: 'early', sentAt: c.answeredAt, answeredAt: c.answeredAt + 10, status: 401, row: 'absent' }
  const notYet: SignInAttempt = { n: 0, kind: 'valid', sentAt: c.issuedAt + 50, answeredAt: c.issuedAt + 60, status: 401, row: 'absent' }
  const a = analyze(recordWith([c], { signIns: [early, notYet, valid, after, ...checkedRefusals(c)] }))
  t.same(failing(a), [])
  t.equal(a.signIns.earlyRefusedBeforeActivation, 1)
  t.equal(a.signIns.notYetActive, 1)
})

t.test('sign-ins: a pair must have exactly one approval; a code approved twice fails', async (t) => {
  const c = code(0, 0, { plan: 'twice' })
  const at = c.issuedAt + 3000
  const half = (status: number): SignInAttempt => ({ n: 0, kind: 'pair', pair: 0, sentAt: at, answeredAt: at + 10, status, row: 'present' })
  const again: SignInAttempt = { n: 0, kind: 'again', sentAt: at + 20, answeredAt: at + 30, status: 401, row: 'consumed' }
  const after = baseline(c)[1] as SignInAttempt
  const unknown = checkedRefusals(c).filter((s) => s.kind === 'unknown')
  t.same(failing(analyze(recordWith([c], { signIns: [half(200), half(401), again, after, ...unknown] }))), [])
  t.ok(failing(analyze(recordWith([c], { signIns: [half(200), half(200), again, after] }))).includes('accepted-twice'))
  t.ok(failing(analyze(recordWith([c], { signIns: [half(401), half(401), again, after] }))).includes('valid-refused'))
  t.ok(failing(analyze(recordWith([c], { signIns: [half(200), half(401), { ...again, status: 200 }, after] }))).includes('accepted-twice'))
})

t.test('a half of a pair that got 5xx makes the pair unclassifiable, not a failure', async (t) => {
  const c = code(0, 0)
  const other = code(1, 0)
  const at = c.issuedAt + 3000
  const azurite: FaultRecord = { kind: 'azurite-restart', target: 'azurite', plannedAt: at, startedAt: at - 10, downAt: at, upAt: at + 2000, endedAt: at + 2000 }
  const signIns: SignInAttempt[] = [
    { n: 0, kind: 'pair', pair: 0, sentAt: at, answeredAt: at + 10, status: 503, error: 'storage_unavailable', row: 'present' },
    { n: 0, kind: 'pair', pair: 0, sentAt: at, answeredAt: at + 10, status: 401, row: 'present' },
    ...baseline(other)
  ]
  const a = analyze(recordWith([c, other], { signIns, faults: [azurite], getcodes: [{ sentAt: at + 2500, answeredAt: at + 2510, status: 200 }] }))
  t.notOk(failing(a).includes('valid-refused'))
  t.equal(a.signIns.unclassified, 1)
})

t.test('messages: garbage must be poisoned, codes must not be, and nothing may be left', async (t) => {
  const codes = codes4()
  const garbage: FaultRecord = { kind: 'garbage', target: 'code-requests', plannedAt: T0, startedAt: T0, endedAt: T0 + 10, messageIds: ['g1', 'g2'] }
  const signIns = baseline(codes[0] as IssuedCode)
  const good = analyze(recordWith(codes, { signIns, faults: [garbage], final: { scannedAtRest: 40, queueLength: 0, tableRows: 0, poison: [{ messageId: 'g1', reason: 'x' }, { messageId: 'g2', reason: 'y' }] } }))
  t.same(failing(good), [])

  const missing = analyze(recordWith(codes, { signIns, faults: [garbage], final: { scannedAtRest: 40, queueLength: 0, tableRows: 0, poison: [{ messageId: 'g1', reason: 'x' }] } }))
  t.same(failing(missing), ['garbage'])

  const left = analyze(recordWith(codes, { signIns, faults: [garbage], final: { scannedAtRest: 40, queueLength: 3, tableRows: 1, poison: [{ messageId: 'g1', reason: 'x' }, { messageId: 'g2', reason: 'y' }] } }))
  t.same(failing(left).sort(), ['left-at-end', 'queue'])
})

t.test('a code activated but never removed is a lost message and a left row', async (t) => {
  const c = code(0, 0)
  const { goneSeenAt: _, ...kept } = { ...c, presentAtRemovalCheck: true }
  const a = analyze(recordWith([kept], { signIns: baseline(c), final: { scannedAtRest: 40, queueLength: 0, tableRows: 1, poison: [] } }))
  t.same(failing(a).sort(), ['left-at-end', 'left-past-bound', 'lost'])
})

t.test('api: 5xx must carry a reason, and only during an outage', async (t) => {
  const codes = codes4()
  const signIns = baseline(codes[0] as IssuedCode)
  const down: FaultRecord = { kind: 'number-api-down', target: 'number-api', plannedAt: T0 + 1000, startedAt: T0 + 1000, downAt: T0 + 1100, upAt: T0 + 2000, endedAt: T0 + 2000 }
  const during = { sentAt: T0 + 1500, answeredAt: T0 + 1510, status: 502, error: 'third_party_failed' }
  const after = { sentAt: T0 + 2100, answeredAt: T0 + 2110, status: 200 }
  const ok = analyze(recordWith(codes, { signIns, faults: [down], getcodes: [during, after] }))
  t.same(failing(ok), [])
  t.equal(ok.faults[0]?.recoveryMs, 110)

  const outside = analyze(recordWith(codes, { signIns, faults: [down], getcodes: [during, after, { sentAt: T0 + 6000, answeredAt: T0 + 6010, status: 503, error: 'queue_unavailable' }] }))
  t.same(failing(outside), ['api-failure-outside-outage'])

  const noReason = analyze(recordWith(codes, { signIns, faults: [down], getcodes: [{ ...during, error: undefined }, after] }))
  t.same(failing(noReason), ['api-reason'])

  const never = analyze(recordWith(codes, { signIns, faults: [down], getcodes: [during] }))
  t.same(failing(never), ['not-recovered'])
})

t.test('processes and logs: a crash, a restarted api, a secret or a whole code in a log each fail', async (t) => {
  const codes = codes4()
  const signIns = baseline(codes[0] as IssuedCode)
  const logs = recordWith([]).logs
  t.same(failing(analyze(recordWith(codes, { signIns, crashes: [{ name: 'worker-2', code: 1, signal: null, at: T0 }] }))), ['crashes'])
  t.same(failing(analyze(recordWith(codes, { signIns, apiPidAtEnd: 43 }))), ['api-restarted'])
  t.same(failing(analyze(recordWith(codes, { signIns, soakErrors: ['TypeError: x is undefined\n    at …'] }))), ['soak-errors'])
  t.same(failing(analyze(recordWith(codes, { signIns, logs: { ...logs, secretHits: [{ process: 'api', label: 'dev token', lines: 2 }] } }))), ['secrets'])
  t.same(failing(analyze(recordWith(codes, { signIns, logs: { ...logs, codeHits: [{ process: 'worker', id: 'c0de0001', issued: true }] } }))), ['codes-in-logs'])
})

t.test('an issued code in clear in storage fails, and so does a run that read no storage', async (t) => {
  const codes = codes4()
  const signIns = baseline(codes[0] as IssuedCode)
  const final = recordWith([]).final
  const found = analyze(recordWith(codes, { signIns, final: { ...final, codesAtRest: [{ where: 'queue code-requests-poison', id: 'c0de0001' }] } }))
  t.same(failing(found), ['codes-at-rest'])
  t.match(found.invariants.find((i) => i.id === 'codes-at-rest')?.examples, ['c0de0001 in queue code-requests-poison'])
  t.same(failing(analyze(recordWith(codes, { signIns, final: { ...final, scannedAtRest: 0 } }))), ['codes-at-rest'])
})

t.test('a run that did not do the work does not pass: too few codes, no checks, a fault not injected', async (t) => {
  t.ok(failing(analyze(recordWith([]))).includes('load'))
  t.ok(failing(analyze(recordWith(codes4()))).includes('valid-refused'), 'no valid sign-in was checked')
  const codes = codes4()
  const broken: FaultRecord = { kind: 'vault-down', target: 'vault', plannedAt: T0, startedAt: T0, endedAt: T0 + 1, error: 'could not stop' }
  const a = analyze(recordWith(codes, { signIns: baseline(codes[0] as IssuedCode), faults: [broken], getcodes: [{ sentAt: T0 + 100, answeredAt: T0 + 110, status: 200 }] }))
  t.same(failing(a), ['faults'])
})

t.test('fault windows come from when the part was really down', async (t) => {
  const f: FaultRecord = { kind: 'azurite-restart', target: 'azurite', plannedAt: T0, startedAt: T0 + 100, downAt: T0 + 900, upAt: T0 + 4000, endedAt: T0 + 4000 }
  const w = windowsOf(f, bounds)
  t.same(w.activation, { from: T0 + 100 - bounds.activationMs, to: T0 + 4000 + bounds.errorBackoffMs + bounds.activationMs })
  t.same(w.api, { from: T0 + 100, to: T0 + 4000 + bounds.apiGraceMs })
  t.same(windowsOf({ ...f, kind: 'vault-down' }, bounds), {}, 'a vault outage excuses nothing: the key is cached')
})

t.test('stats are nearest-rank percentiles', async (t) => {
  t.same(stats([]), { n: 0 })
  t.same(stats([5, 1, 3, 2, 4]), { n: 5, p50: 3, p95: 5, p99: 5, max: 5 })
})

t.test('an overload: 503 overloaded is the one failure allowed during it, and its codes may be late until the workers caught up', async (t) => {
  const codes = codes4()
  const signIns = baseline(codes[0] as IssuedCode)
  const flood: FaultRecord = { kind: 'overload', target: 'api', plannedAt: T0 + 1000, startedAt: T0 + 1000, downAt: T0 + 1000, upAt: T0 + 3000, caughtUpAt: T0 + 9000, endedAt: T0 + 9000, connections: 200, ttlMs: TTL }
  const shed = { sentAt: T0 + 1500, answeredAt: T0 + 1502, status: 503, error: 'overloaded' }
  const after = { sentAt: T0 + 3100, answeredAt: T0 + 3110, status: 200 }
  // Issued during the flood, valid only once the workers worked off the backlog.
  const late = code(7, 2000, {}, 6500)

  const ok = analyze(recordWith([...codes, late], { signIns, faults: [flood], getcodes: [shed, after] }))
  t.same(failing(ok), [])
  t.equal(ok.codes.validLateInWindow, 1)
  t.same(ok.faults[0]?.getcodeFailures, { '503 overloaded': 1 })

  const timeout = { sentAt: T0 + 1500, answeredAt: T0 + 2500, status: 504, error: 'third_party_timeout' }
  t.same(failing(analyze(recordWith(codes, { signIns, faults: [flood], getcodes: [shed, timeout, after] }))), ['overload-answers'])

  // Outside a burst, shedding is the api's answer to a starved process: counted, not a failure; any other 5xx still is one.
  const shedLater = { sentAt: T0 + 30_000, answeredAt: T0 + 30_002, status: 503, error: 'overloaded' }
  const starved = analyze(recordWith(codes, { signIns, faults: [flood], getcodes: [shed, after, shedLater] }))
  t.same(failing(starved), [])
  t.equal(starved.api.shedOutside, 1)
  const failedLater = { ...shedLater, error: 'queue_unavailable' }
  t.same(failing(analyze(recordWith(codes, { signIns, faults: [flood], getcodes: [shed, after, failedLater] }))), ['api-failure-outside-outage'])

  const w = windowsOf(flood, bounds)
  t.same(w.activation, { from: T0 + 1000 - bounds.activationMs, to: T0 + 9000 + bounds.activationMs })
  t.same(w.removal, [
    { from: T0 + 1000 - bounds.removalMs, to: T0 + 9000 + bounds.removalMs },
    { from: T0 + 1000 + TTL - bounds.removalMs, to: T0 + 9000 + TTL + bounds.removalMs }
  ])
})

t.test('a row left past its expiry is excused only where a fault delays the worker: during a flood, and while a hung worker held it before its kill', async (t) => {
  // Expires at T0 + 4000: while the flood below (T0 + 1000 until caught up at T0 + 9000) is being worked off.
  const slow = code(0, 4000 - TTL, { presentAtRemovalCheck: true })
  const signIns = baseline(slow)
  t.same(failing(analyze(recordWith([slow], { signIns }))), ['left-past-bound'], 'with no fault, a slow removal fails')

  const flood: FaultRecord = { kind: 'overload', target: 'api', plannedAt: T0 + 1000, startedAt: T0 + 1000, downAt: T0 + 1000, upAt: T0 + 3000, caughtUpAt: T0 + 9000, endedAt: T0 + 9000, connections: 200, ttlMs: TTL }
  const getcodes = [{ sentAt: T0 + 3100, answeredAt: T0 + 3110, status: 200 }, { sentAt: T0 + 5100, answeredAt: T0 + 5110, status: 200 }]
  t.same(failing(analyze(recordWith([slow], { signIns, faults: [flood], getcodes }))), [], 'expiring while the flood is worked off')
  const before = code(1, 1000 - bounds.removalMs - 1000 - TTL, { presentAtRemovalCheck: true })
  t.same(failing(analyze(recordWith([before], { signIns: baseline(before), faults: [flood], getcodes }))), ['left-past-bound'], 'expiring well before the flood')

  // The worker's table hangs from T0 + 1000; it is killed at T0 + 3500 (downAt), holding what it took meanwhile.
  const kill: FaultRecord = { kind: 'worker-kill', target: 'worker-2', plannedAt: T0 + 1000, startedAt: T0 + 1000, downAt: T0 + 3500, upAt: T0 + 5000, endedAt: T0 + 9000 }
  const held = code(2, 3000 - TTL, { presentAtRemovalCheck: true })
  t.same(failing(analyze(recordWith([held], { signIns: baseline(held), faults: [kill], getcodes }))), [], 'expired between the hang and the kill')
  t.same(windowsOf(kill, bounds).activation, { from: T0 + 1000 - bounds.activationMs, to: T0 + 4500 })
})

t.test('no approval out of no attempts proves nothing: accepted-twice and unknown-accepted need attempts', async (t) => {
  const c = code(0, 0)
  const onlyTheseTwo = baseline(c).slice(0, 2)
  t.same(failing(analyze(recordWith([c], { signIns: onlyTheseTwo }))).filter((id) => id === 'accepted-twice' || id === 'unknown-accepted').sort(), ['accepted-twice', 'unknown-accepted'])

  // Unknown codes that only ever got 503s were not checked either.
  const unanswered: SignInAttempt = { n: -1, kind: 'unknown', sentAt: c.issuedAt + 2200, answeredAt: c.issuedAt + 2210, status: 503, error: 'storage_unavailable' }
  const withUnanswered = baseline(c).filter((s) => s.kind !== 'unknown').concat(unanswered)
  t.ok(failing(analyze(recordWith([c], { signIns: withUnanswered }))).includes('unknown-accepted'))

  // And the rules still catch what they are for.
  const twice: SignInAttempt = { n: 0, kind: 'again', sentAt: c.issuedAt + 2100, answeredAt: c.issuedAt + 2110, status: 200, row: 'consumed' }
  t.ok(failing(analyze(recordWith([c], { signIns: [...baseline(c), twice] }))).includes('accepted-twice'))
  const guessed: SignInAttempt = { n: -1, kind: 'unknown', sentAt: c.issuedAt + 2300, answeredAt: c.issuedAt + 2310, status: 200 }
  t.ok(failing(analyze(recordWith([c], { signIns: [...baseline(c), guessed] }))).includes('unknown-accepted'))
})

t.test('a worker kill that found the worker idle, or whose held messages never came back, is not a kill in flight', async (t) => {
  const codes = codes4()
  const signIns = baseline(codes[0] as IssuedCode)
  const kill = (more: Partial<FaultRecord>): FaultRecord => ({ kind: 'worker-kill', target: 'worker-2', plannedAt: T0, startedAt: T0 + 100, downAt: T0 + 200, upAt: T0 + 2200, endedAt: T0 + 2200, ...more })
  const redelivery: WorkerEvent = { name: 'activated', process: 'worker', at: T0 + 5000, messageId: 'm-held', dequeueCount: 2, inserted: true, lagMs: 5000, lost: false }
  const eventsOf = (events: WorkerEvent[]): SoakRecord['workerEvents'] => ({ ...recordWith([]).workerEvents, events })

  const idle = analyze(recordWith(codes, { signIns, faults: [kill({ caughtBusy: false })], workerEvents: eventsOf([redelivery]) }))
  t.ok(failing(idle).includes('kill-in-flight'), 'idle when killed')
  t.match(idle.invariants.find((i) => i.id === 'kill-in-flight')?.examples?.[0], /idle when killed/)

  const nothingBack = analyze(recordWith(codes, { signIns, faults: [kill({ caughtBusy: true })], workerEvents: eventsOf([]) }))
  t.ok(failing(nothingBack).includes('kill-in-flight'), 'busy, but nothing it held was redelivered')

  const inFlight = analyze(recordWith(codes, { signIns, faults: [kill({ caughtBusy: true })], workerEvents: eventsOf([redelivery]) }))
  t.notOk(failing(inFlight).includes('kill-in-flight'), 'busy, and its messages came back')
  t.equal(inFlight.faults[0]?.redelivered, 1)
})
