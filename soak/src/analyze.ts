/**
 * The invariants of a soak run, judged from its record alone (no clock, no
 * I/O), so every rule here can be tested with made-up records.
 *
 * Fault windows: a fault may delay a code's activation or removal only if the
 * code's issue (or expiry) falls in that fault's window, derived from when the
 * part really went down and came back:
 *
 * - worker kill: the worker's table hangs from the fault's start until the
 *   kill, so it holds what it took in that time; those messages come back
 *   after the visibility timeout; they were issued (or expired) before the
 *   kill: [hang − bound, kill + 1 s].
 * - Azurite restart: nothing moves while it is down, and the workers then
 *   sleep up to their error back-off: [stop − bound, back + error back-off + bound].
 * - overload: the flood's codes queue up at the workers, and again when they
 *   expire; the expiries that fall due while the flood is being activated
 *   wait behind it too (the queue hands out visible messages in about the
 *   order they became visible): [start − bound, caught up + bound] and the
 *   same shifted by the TTL, for removal.
 * - number-api and dev-vault outages and garbage touch no code already issued.
 *
 * Outside its windows every code must be valid within the activation bound and
 * gone within the removal bound; inside them, valid before it expires and gone
 * by the end of the drain. A code never valid before its expiry fails anywhere.
 */
import type { WorkerEvent } from './worker-events.js'
import type { Bounds } from './options.js'
import type { ApiCall, FaultRecord, IssuedCode, SignInAttempt, SoakRecord } from './records.js'

export interface Interval {
  from: number
  to: number
}

export interface FaultWindows {
  activation?: Interval
  /** Expiry times whose removal may be late (a fault can cover more than one span). */
  removal?: Interval[]
  /** When the api may answer 5xx because of this fault. */
  api?: Interval
}

export interface Invariant {
  id: string
  label: string
  value: number | string
  expected: string
  pass: boolean
  /** Masked examples of what failed. */
  examples?: string[]
}

export interface Stats {
  n: number
  p50?: number
  p95?: number
  p99?: number
  max?: number
}

export interface FaultSummary {
  kind: string
  target: string
  /** Seconds after the load started. */
  at: number
  /** Seconds the part was down (kill → restarted). */
  downSeconds?: number
  error?: string
  getcodeFailures: Record<string, number>
  signInFailures: Record<string, number>
  codesInWindow: number
  lateCodes: number
  maxActivationMs?: number
  /** Fault end → first getcode 200. */
  recoveryMs?: number
  /** Activations on a redelivered message (dequeueCount > 1) from the fault until its messages were due back. */
  redelivered: number
  caughtBusy?: boolean
  garbage?: number
}

export interface SignInCounts {
  total: number
  strict: number
  strictApproved: number
  strictRefused: number
  pairs: number
  pairsOneApproved: number
  pairsNoneApproved: number
  early: number
  earlyRefusedBeforeActivation: number
  earlyApproved: number
  notYetActive: number
  afterExpiry: number
  afterExpiryRowPresent: number
  afterExpiryApproved: number
  usedAgain: number
  usedAgainApproved: number
  unknown: number
  unknownApproved: number
  boundary: number
  unavailable: number
  unclassified: number
}

/** What the attacker got: judged guesses (401) per address must stay within the address limit, across both apis. */
export interface AttackCounts {
  guesses: number
  judged: number
  locked: number
  approved: number
  unavailable: number
  addresses: number
  maxJudgedPerAddress: number
  addressesOverLimit: number
  /** Guesses that named an honest user's subject. */
  honestSubjects: number
}

export interface Analysis {
  passed: boolean
  invariants: Invariant[]
  attack: AttackCounts
  codes: {
    planned: number
    issued: number
    skipped: number
    validWithinBound: number
    validLateInWindow: number
    lateOutsideWindow: number
    neverValid: number
    inActivationWindow: number
    activatedOnRedelivery: number
    withoutIssuedLog: number
  }
  latency: {
    activation: Stats
    activationInWindow: Stats
    removal: Stats
    removalInWindow: Stats
    getcode: Stats
    signIn: Stats
  }
  signIns: SignInCounts
  messages: {
    codes: number
    garbage: number
    processed: number
    lost: number
    poisoned: number
    codesPoisoned: number
    garbageNotPoisoned: number
    unknownPoisoned: number
    orphans: number
    queueLength?: number
    tableRows?: number
  }
  api: {
    getcodes: number
    getcode200: number
    failures: Record<string, number>
    withoutReason: number
    unmapped: number
    outsideOutages: number
    /** 503 overloaded outside the overload bursts: the api shedding because the machine starved it (counted, not a failure). */
    shedOutside: number
    malformed: number
    /** 5xx answers the client saw, and request.failed lines the api logged: each failure leaves a trace. */
    answered5xx: number
    logged5xx: number
    unexpectedLogged: number
  }
  faults: FaultSummary[]
  logs: { lines: number, secretHits: number, codeHits: number, issuedCodeHits: number, errorLines: Record<string, number> }
  durations: { startupSeconds: number, loadSeconds: number, drainSeconds: number, totalSeconds: number }
}

const within = (t: number, i: Interval | undefined): boolean => i !== undefined && t >= i.from && t <= i.to
const overlaps = (c: ApiCall, i: Interval | undefined): boolean => i !== undefined && c.sentAt <= i.to && c.answeredAt >= i.from
const failed = (c: ApiCall): boolean => c.status === 0 || c.status >= 500
const reasonOf = (c: ApiCall): string => c.status === 0 ? `no answer (${c.failure ?? '?'})` : `${c.status} ${c.error ?? '(no reason)'}`

export function windowsOf (fault: FaultRecord, bounds: Bounds): FaultWindows {
  const up = fault.upAt ?? fault.endedAt
  switch (fault.kind) {
    case 'worker-kill': {
      const killedAt = fault.downAt ?? fault.startedAt
      return {
        activation: { from: fault.startedAt - bounds.activationMs, to: killedAt + 1000 },
        removal: [{ from: fault.startedAt - bounds.removalMs, to: killedAt + 1000 }]
      }
    }
    case 'azurite-restart':
      return {
        activation: { from: fault.startedAt - bounds.activationMs, to: up + bounds.errorBackoffMs + bounds.activationMs },
        removal: [{ from: fault.startedAt - bounds.removalMs, to: up + bounds.errorBackoffMs + bounds.removalMs }],
        api: { from: fault.startedAt, to: up + bounds.apiGraceMs }
      }
    case 'number-api-down':
      return { api: { from: fault.startedAt, to: up + bounds.apiGraceMs } }
    case 'overload': {
      // The flood's codes queue up behind each other, at the workers and again at their expiry: later is allowed until the workers caught up.
      const caughtUp = fault.caughtUpAt ?? fault.endedAt
      const ttl = fault.ttlMs ?? 0
      return {
        activation: { from: fault.startedAt - bounds.activationMs, to: caughtUp + bounds.activationMs },
        removal: [
          { from: fault.startedAt - bounds.removalMs, to: caughtUp + bounds.removalMs },
          { from: fault.startedAt + ttl - bounds.removalMs, to: caughtUp + ttl + bounds.removalMs }
        ],
        api: { from: fault.startedAt, to: up + bounds.apiGraceMs }
      }
    }
    case 'vault-down':
    case 'garbage':
      return {}
  }
}

export function stats (values: number[]): Stats {
  if (values.length === 0) return { n: 0 }
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number
  return { n: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted[sorted.length - 1] as number }
}

/** The worker's events for each code, through the api's code.issued line (code id + expiry → message id). */
function eventsByCode (record: SoakRecord): { messageIdOf: Map<number, string>, events: Map<string, WorkerEvent[]> } {
  const idByKey = new Map<string, string>()
  for (const e of record.logs.issued) idByKey.set(`${e.codeId}|${e.expiresAt}`, e.messageId)
  const messageIdOf = new Map<number, string>()
  for (const c of record.codes) {
    const id = idByKey.get(`${c.codeId}|${new Date(c.expiresAt).toISOString()}`)
    if (id !== undefined) messageIdOf.set(c.n, id)
  }
  const events = new Map<string, WorkerEvent[]>()
  for (const e of record.workerEvents.events) {
    const list = events.get(e.messageId) ?? []
    list.push(e)
    events.set(e.messageId, list)
  }
  return { messageIdOf, events }
}

const firstTime = (events: WorkerEvent[] | undefined, name: WorkerEvent['name']): number | undefined =>
  events?.filter((e) => e.name === name).reduce<number | undefined>((min, e) => min === undefined || e.at < min ? e.at : min, undefined)

const describe = (c: IssuedCode, extra: string): string => `${c.codeId} (#${c.n}) ${extra}`

/** Up to five masked examples per invariant id, gathered while the figures are worked out. */
class Examples {
  readonly #byId: Record<string, string[]> = {}

  add (id: string, text: string): void {
    const list = this.#byId[id] ??= []
    if (list.length < 5) list.push(text)
  }

  of (id: string): string[] | undefined {
    return this.#byId[id]
  }
}

/** What every group of figures reads: the record, its fault windows and the worker's events per code. */
interface Context {
  record: SoakRecord
  bounds: Bounds
  windows: { fault: FaultRecord, w: FaultWindows }[]
  messageIdOf: Map<number, string>
  events: Map<string, WorkerEvent[]>
  examples: Examples
  /** Seconds after the load started, for examples. */
  at: (t: number) => string
}

function contextOf (record: SoakRecord): Context {
  const { bounds } = record.options
  return {
    record,
    bounds,
    windows: record.faults.map((f) => ({ fault: f, w: windowsOf(f, bounds) })),
    ...eventsByCode(record),
    examples: new Examples(),
    at: (t) => ((t - record.loadStartedAt) / 1000).toFixed(1)
  }
}

const eventsOf = (ctx: Context, c: IssuedCode): WorkerEvent[] | undefined => {
  const id = ctx.messageIdOf.get(c.n)
  return id !== undefined ? ctx.events.get(id) : undefined
}

type Activations = Omit<Analysis['codes'], 'planned' | 'issued' | 'skipped' | 'withoutIssuedLog'> & {
  activation: number[]
  activationInWindow: number[]
  /** Issue → first proof of validity, by code number. */
  latencyOf: Map<number, number>
}

/** When each code became valid: the earlier of the first table read that found it and the worker's activated event. */
function activations (ctx: Context): Activations {
  const { record, bounds, examples } = ctx
  const out: Activations = { activation: [], activationInWindow: [], validWithinBound: 0, validLateInWindow: 0, lateOutsideWindow: 0, neverValid: 0, inActivationWindow: 0, activatedOnRedelivery: 0, latencyOf: new Map() }
  for (const c of record.codes) {
    const ev = eventsOf(ctx, c)
    const announcedAt = firstTime(ev, 'activated')
    if (ev?.some((e) => e.name === 'activated' && e.dequeueCount > 1) === true) out.activatedOnRedelivery++
    const inWindow = ctx.windows.some(({ w }) => within(c.issuedAt, w.activation))
    if (inWindow) out.inActivationWindow++
    if (c.seenAt === undefined) {
      out.neverValid++
      examples.add('never-valid', describe(c, `issued +${ctx.at(c.issuedAt)} s, ${c.absentReads} reads found no row, ${c.readErrors} failed${ev?.some((e) => e.name === 'dropped') === true ? ', dropped as late by the worker' : ''}`))
      continue
    }
    const latency = Math.max(0, Math.min(c.seenAt, announcedAt ?? Number.POSITIVE_INFINITY) - c.issuedAt)
    out.latencyOf.set(c.n, latency)
    ;(inWindow ? out.activationInWindow : out.activation).push(latency)
    if (latency <= bounds.activationMs) out.validWithinBound++
    else if (inWindow) out.validLateInWindow++
    else {
      out.lateOutsideWindow++
      examples.add('late-outside-window', describe(c, `valid after ${latency} ms, issued +${ctx.at(c.issuedAt)} s`))
    }
  }
  return out
}

interface Removals {
  removal: number[]
  removalInWindow: number[]
  /** Rows still there at the removal check, outside every removal window. */
  leftPastBound: number
  /** Codes whose row was never seen gone. */
  leftAtEnd: number
}

/** When each code's row went: the worker's expired event, and the soak's reads after expiry. */
function removals (ctx: Context): Removals {
  const { record, examples } = ctx
  const out: Removals = { removal: [], removalInWindow: [], leftPastBound: 0, leftAtEnd: 0 }
  for (const c of record.codes) {
    const expiredAt = firstTime(eventsOf(ctx, c), 'expired')
    const inWindow = ctx.windows.some(({ w }) => (w.removal ?? []).some((i) => within(c.expiresAt, i)))
    if (expiredAt !== undefined) (inWindow ? out.removalInWindow : out.removal).push(Math.max(0, expiredAt - c.expiresAt))
    if (c.presentAtRemovalCheck === true && !inWindow) {
      out.leftPastBound++
      examples.add('left-past-bound', describe(c, `row still there ${(c.removalCheckedAt ?? 0) - c.expiresAt} ms after expiry`))
    }
    if (c.goneSeenAt === undefined) {
      out.leftAtEnd++
      examples.add('left-at-end', describe(c, 'row never seen gone'))
    }
  }
  return out
}

const noSignIns = (total: number): SignInCounts => ({
  total,
  strict: 0,
  strictApproved: 0,
  strictRefused: 0,
  pairs: 0,
  pairsOneApproved: 0,
  pairsNoneApproved: 0,
  early: 0,
  earlyRefusedBeforeActivation: 0,
  earlyApproved: 0,
  notYetActive: 0,
  afterExpiry: 0,
  afterExpiryRowPresent: 0,
  afterExpiryApproved: 0,
  usedAgain: 0,
  usedAgainApproved: 0,
  unknown: 0,
  unknownApproved: 0,
  boundary: 0,
  unavailable: 0,
  unclassified: 0
})

interface SignIns {
  counts: SignInCounts
  /** Codes with more than one approval. */
  acceptedTwice: number
  /** Sign-ins with unknown codes that got no answer (no reply or a 5xx). */
  unknownUnanswered: number
}

/** Every sign-in, classified by the moment of its code's life it was made in, and by what the table showed. */
function signIns (ctx: Context): SignIns {
  const { record, examples } = ctx
  const counts = noSignIns(record.signIns.length)
  const codeByN = new Map(record.codes.map((c) => [c.n, c]))
  const byCode = new Map<number, SignInAttempt[]>()
  for (const s of record.signIns) {
    if (s.kind === 'unknown') {
      counts.unknown++
      if (failed(s)) counts.unavailable++
      else if (s.status === 200) {
        counts.unknownApproved++
        examples.add('unknown-accepted', 'a never-issued code')
      }
      continue
    }
    const list = byCode.get(s.n) ?? []
    list.push(s)
    byCode.set(s.n, list)
  }
  let acceptedTwice = 0
  const pairs = new Map<number, SignInAttempt[]>()
  for (const [n, attempts] of byCode) {
    const c = codeByN.get(n)
    if (c === undefined) continue
    const approvals = attempts.filter((a) => a.status === 200)
    if (approvals.length > 1) {
      acceptedTwice++
      examples.add('accepted-twice', describe(c, `${approvals.length} approvals`))
    }
    for (const a of attempts) countAttempt(ctx, counts, c, a, attempts, pairs)
  }
  countPairs(ctx, counts, pairs, codeByN)
  return { counts, acceptedTwice, unknownUnanswered: record.signIns.filter((s) => s.kind === 'unknown' && failed(s)).length }
}

/** One sign-in of an issued code into its class; the halves of a pair are held in `pairs` until both are seen. */
function countAttempt (ctx: Context, counts: SignInCounts, c: IssuedCode, a: SignInAttempt, attempts: SignInAttempt[], pairs: Map<number, SignInAttempt[]>): void {
  const { bounds, examples } = ctx
  if (failed(a)) {
    counts.unavailable++
    return
  }
  const approved = a.status === 200
  if (a.sentAt >= c.expiresAt) {
    counts.afterExpiry++
    if (a.row === 'present' || a.row === 'consumed') counts.afterExpiryRowPresent++
    if (approved) {
      counts.afterExpiryApproved++
      examples.add('accepted-after-expiry', describe(c, `approved ${a.sentAt - c.expiresAt} ms after expiry`))
    }
    return
  }
  if (a.answeredAt >= c.expiresAt - bounds.boundaryMarginMs) {
    counts.boundary++
    return
  }
  if (a.kind === 'early') {
    counts.early++
    if (approved) counts.earlyApproved++
    else if (a.row === 'absent') counts.earlyRefusedBeforeActivation++
    else if (a.row === 'present') counts.boundary++
    else counts.unclassified++
    return
  }
  const usedBefore = attempts.some((b) => b !== a && b.status === 200 && b.answeredAt <= a.sentAt)
  if (usedBefore || a.row === 'consumed') {
    counts.usedAgain++
    if (approved) counts.usedAgainApproved++
    return
  }
  if (a.row === 'absent') {
    counts.notYetActive++
    return
  }
  if (a.row !== 'present') {
    counts.unclassified++
    return
  }
  if (a.kind === 'pair' && a.pair !== undefined) {
    const list = pairs.get(a.pair) ?? []
    list.push(a)
    pairs.set(a.pair, list)
    return
  }
  counts.strict++
  if (approved) counts.strictApproved++
  else {
    counts.strictRefused++
    examples.add('valid-refused', describe(c, `${a.status} ${a.error ?? ''} ${a.sentAt - c.issuedAt} ms after issue`))
  }
}

/** Two sign-ins at once with one valid code: exactly one may be approved. */
function countPairs (ctx: Context, counts: SignInCounts, pairs: Map<number, SignInAttempt[]>, codeByN: Map<number, IssuedCode>): void {
  for (const halves of pairs.values()) {
    // Both halves must be classifiable, else one may have been used unseen.
    const group = ctx.record.signIns.filter((s) => s.kind === 'pair' && s.pair === halves[0]?.pair)
    if (group.length !== 2 || halves.length !== 2) {
      counts.unclassified += halves.length
      continue
    }
    counts.pairs++
    const approved = halves.filter((h) => h.status === 200).length
    if (approved === 1) counts.pairsOneApproved++
    else if (approved === 0) {
      counts.pairsNoneApproved++
      const c = codeByN.get(halves[0]?.n ?? -1)
      if (c !== undefined) ctx.examples.add('valid-refused', describe(c, 'both halves of a pair refused'))
    }
  }
}

/** Every code message processed or poisoned, every garbage message poisoned, and what is left in storage. */
function messages (ctx: Context): Analysis['messages'] {
  const { record, examples, messageIdOf, events } = ctx
  const poisoned = new Set(record.final.poison.map((p) => p.messageId))
  const garbageIds = record.faults.flatMap((f) => f.messageIds ?? [])
  const codeIds = new Set(messageIdOf.values())
  let processed = 0
  let lost = 0
  let codesPoisoned = 0
  for (const c of record.codes) {
    const id = messageIdOf.get(c.n)
    const ev = eventsOf(ctx, c)
    if (id !== undefined && poisoned.has(id)) {
      codesPoisoned++
      examples.add('code-poisoned', describe(c, record.final.poison.find((p) => p.messageId === id)?.reason ?? ''))
      continue
    }
    const activated = c.seenAt !== undefined || ev?.some((e) => e.name === 'activated' || e.name === 'dropped') === true
    const removed = c.goneSeenAt !== undefined || ev?.some((e) => e.name === 'expired' || e.name === 'dropped') === true
    if (activated && removed) processed++
    else {
      lost++
      examples.add('lost', describe(c, `${activated ? 'activated' : 'never activated'}, ${removed ? 'removed' : 'never removed'}`))
    }
  }
  const garbageSet = new Set(garbageIds)
  return {
    codes: record.codes.length,
    garbage: garbageIds.length,
    processed,
    lost,
    poisoned: poisoned.size,
    codesPoisoned,
    garbageNotPoisoned: garbageIds.filter((id) => !poisoned.has(id)).length,
    unknownPoisoned: [...poisoned].filter((id) => !garbageSet.has(id) && !codeIds.has(id)).length,
    orphans: [...events.keys()].filter((id) => !codeIds.has(id) && !garbageSet.has(id)).length,
    ...(record.final.queueLength !== undefined ? { queueLength: record.final.queueLength } : {}),
    ...(record.final.tableRows !== undefined ? { tableRows: record.final.tableRows } : {})
  }
}

interface ApiFigures {
  answers: Analysis['api']
  /** Answers other than 503 overloaded during an overload. */
  overloadOther: number
  /** The getcodes answered 200. */
  issued: ApiCall[]
}

/** The api's failures: each with a reason, only inside a fault's api window, and only 503 overloaded while it sheds. */
function apiFigures (ctx: Context): ApiFigures {
  const { record, examples, windows } = ctx
  const apiWindows = windows.map(({ w }) => w.api)
  const failures: Record<string, number> = {}
  let withoutReason = 0
  let unmapped = 0
  let outsideOutages = 0
  let shedOutside = 0
  // Any getcode but a 200 is a failure; a sign-in's 401 and 429 are answers, its 5xx a failure.
  const apiFailures = [...record.getcodes.filter((c) => c.status !== 200), ...record.signIns.filter(failed)]
  for (const c of apiFailures) {
    const reason = reasonOf(c)
    failures[reason] = (failures[reason] ?? 0) + 1
    if (c.status >= 500 && c.error === undefined) withoutReason++
    if (c.error === 'internal') unmapped++
    if (!apiWindows.some((w) => overlaps(c, w))) {
      // Shedding is the api's answer to its own starvation (a shared CI machine can cause it), not a fault of the system.
      if (c.status === 503 && c.error === 'overloaded') {
        shedOutside++
        continue
      }
      outsideOutages++
      examples.add('api-failure-outside-outage', `${reason} at +${ctx.at(c.sentAt)} s`)
    }
  }
  // While the api sheds load, a failure is a 503 overloaded and nothing else: no timeout, no other 5xx.
  const overloadWindows = windows.filter(({ fault }) => fault.kind === 'overload').map(({ w }) => w.api)
  let overloadOther = 0
  for (const c of apiFailures) {
    if (!overloadWindows.some((w) => overlaps(c, w)) || (c.status === 503 && c.error === 'overloaded')) continue
    overloadOther++
    examples.add('overload-answers', `${reasonOf(c)} at +${ctx.at(c.sentAt)} s`)
  }
  const getcode200 = record.getcodes.filter((c) => c.status === 200)
  const answers = {
    getcodes: record.getcodes.length,
    getcode200: getcode200.length,
    failures,
    withoutReason,
    unmapped,
    outsideOutages,
    shedOutside,
    malformed: record.getcodes.filter((c) => c.error === 'malformed 200 answer').length,
    answered5xx: apiFailures.filter((c) => c.status >= 500).length,
    logged5xx: Object.values(record.logs.apiFailures).reduce((a, b) => a + b, 0),
    unexpectedLogged: record.logs.apiUnexpected
  }
  return { answers, overloadOther, issued: getcode200 }
}

interface Faults {
  faults: FaultSummary[]
  /** Worker kills meant to hit work in flight. */
  kills: FaultSummary[]
  killsNotInFlight: FaultSummary[]
  /** Faults after which getcode took longer than the recovery bound to answer 200, or never did. */
  unrecovered: FaultSummary[]
}

/** Each fault: what failed during it, the codes it delayed, and how soon getcode answered 200 again. */
function faults (ctx: Context, latencyOf: Map<number, number>, issued: ApiCall[]): Faults {
  const { bounds, examples } = ctx
  const faults = ctx.windows.map(({ fault, w }) => faultSummary(ctx, fault, w, latencyOf, issued))
  // A kill meant to hit work in flight counts only if it did: the worker was busy, and what it held was redelivered.
  const kills = faults.filter((f) => f.kind === 'worker-kill' && f.caughtBusy !== undefined)
  const killsNotInFlight = kills.filter((f) => f.caughtBusy !== true || f.redelivered === 0)
  for (const f of killsNotInFlight) examples.add('kill-in-flight', `${f.target} at +${f.at} s: ${f.caughtBusy !== true ? 'idle when killed' : 'nothing it held was redelivered'}`)
  const unrecovered = faults.filter((f) => f.recoveryMs === undefined || f.recoveryMs > bounds.recoveryMs)
  for (const f of unrecovered) examples.add('not-recovered', `${f.kind} at +${f.at} s: ${f.recoveryMs === undefined ? 'no getcode 200 after it' : `${f.recoveryMs} ms`}`)
  return { faults, kills, killsNotInFlight, unrecovered }
}

function faultSummary (ctx: Context, fault: FaultRecord, w: FaultWindows, latencyOf: Map<number, number>, issued: ApiCall[]): FaultSummary {
  const { record, bounds } = ctx
  const end = fault.upAt ?? fault.endedAt
  const inWindow = record.codes.filter((c) => within(c.issuedAt, w.activation))
  const late = inWindow.filter((c) => (latencyOf.get(c.n) ?? Number.POSITIVE_INFINITY) > bounds.activationMs)
  const tally = (list: ApiCall[]): Record<string, number> => {
    const out: Record<string, number> = {}
    for (const c of list) {
      if (c.status === 200 || c.status === 401) continue
      if (!(c.sentAt <= end + bounds.apiGraceMs && c.answeredAt >= fault.startedAt)) continue
      out[reasonOf(c)] = (out[reasonOf(c)] ?? 0) + 1
    }
    return out
  }
  const firstOk = issued.filter((c) => c.sentAt >= end).reduce<number | undefined>((min, c) => min === undefined || c.answeredAt < min ? c.answeredAt : min, undefined)
  const maxActivation = inWindow.map((c) => latencyOf.get(c.n)).filter((x) => x !== undefined)
  // Until its messages were due back, or the next fault began (so none is counted twice).
  const next = record.faults.find((g) => g.startedAt > fault.startedAt)?.startedAt ?? Number.POSITIVE_INFINITY
  const dueBack = Math.min(next, end + bounds.visibilityMs + bounds.errorBackoffMs + bounds.slackMs)
  const redelivered = record.workerEvents.events.filter((e) => e.name === 'activated' && e.dequeueCount > 1 && e.at >= fault.startedAt && e.at < dueBack).length
  return {
    kind: fault.kind,
    target: fault.target,
    at: Math.round((fault.startedAt - record.loadStartedAt) / 100) / 10,
    ...(fault.downAt !== undefined && fault.upAt !== undefined ? { downSeconds: Math.round((fault.upAt - fault.downAt) / 100) / 10 } : {}),
    ...(fault.error !== undefined ? { error: fault.error } : {}),
    getcodeFailures: tally(record.getcodes),
    signInFailures: tally(record.signIns),
    codesInWindow: inWindow.length,
    lateCodes: late.length,
    ...(maxActivation.length > 0 ? { maxActivationMs: Math.max(...maxActivation) } : {}),
    ...(firstOk !== undefined ? { recoveryMs: Math.max(0, firstOk - end) } : {}),
    ...(fault.messageIds !== undefined ? { garbage: fault.messageIds.length } : {}),
    redelivered,
    ...(fault.caughtBusy !== undefined ? { caughtBusy: fault.caughtBusy } : {})
  }
}

interface Processes {
  /** Processes that exited unasked, or were not running at the end. */
  exited: string[]
  apiRestarted: boolean
  /** Log lines with a secret in them. */
  secretHits: number
  /** Issued codes found in clear in storage. */
  atRest: { where: string, id: string }[]
}

/** Processes that died, secrets and codes in the logs, codes in clear in storage. */
function processes (ctx: Context): Processes {
  const { record, examples } = ctx
  const exited = [...record.crashes.map((c) => `${c.name} exited (code ${String(c.code)}, signal ${String(c.signal)})`), ...record.notRunning.map((n) => `${n} not running at the end`)]
  for (const e of exited) examples.add('crashes', e)
  for (const e of record.soakErrors) examples.add('soak-errors', e.split('\n')[0] ?? e)
  for (const h of record.logs.secretHits) examples.add('secrets', `${h.label} in ${h.lines} line(s) of ${h.process}`)
  for (const h of record.logs.codeHits) examples.add('codes-in-logs', `${h.id} in ${h.process}${h.issued ? ' (issued to the soak)' : ''}`)
  const atRest = record.final.codesAtRest ?? []
  for (const h of atRest) examples.add('codes-at-rest', `${h.id} in ${h.where}`)
  return {
    exited,
    apiRestarted: record.apiPidAtStart === undefined || record.apiPidAtStart !== record.apiPidAtEnd,
    secretHits: record.logs.secretHits.reduce((n, h) => n + h.lines, 0),
    atRest
  }
}

/** What the attacker got, per address. */
function attack (ctx: Context): { counts: AttackCounts, limit: number } {
  const { record, examples } = ctx
  const attackList = record.attack ?? []
  const judgedBy = new Map<string, number>()
  for (const a of attackList) if (a.status === 401) judgedBy.set(a.address, (judgedBy.get(a.address) ?? 0) + 1)
  const limit = record.options.attack?.maxJudgedPerAddress ?? Number.POSITIVE_INFINITY
  const over = [...judgedBy.entries()].filter(([, n]) => n > limit)
  for (const [address, n] of over) examples.add('attack-over-limit', `${address}: ${n} guesses judged`)
  const counts = {
    guesses: attackList.length,
    judged: attackList.filter((a) => a.status === 401).length,
    locked: attackList.filter((a) => a.status === 429).length,
    approved: attackList.filter((a) => a.status === 200).length,
    unavailable: attackList.filter(failed).length,
    addresses: new Set(attackList.map((a) => a.address)).size,
    maxJudgedPerAddress: Math.max(0, ...judgedBy.values()),
    addressesOverLimit: over.length,
    honestSubjects: attackList.filter((a) => a.honestSubject).length
  }
  return { counts, limit }
}

/** Everything measured in a run, before any of it is judged. */
interface Figures {
  planned: number
  /** Codes whose code.issued line was not found (so no worker event can be tied to them). */
  withoutIssuedLog: number
  activations: Activations
  removals: Removals
  signIns: SignIns
  messages: Analysis['messages']
  api: ApiFigures
  faults: Faults
  processes: Processes
  attack: { counts: AttackCounts, limit: number }
  examples: Examples
}

/** The record → figures part: counts, latencies and examples, no verdicts. */
function figuresOf (record: SoakRecord): Figures {
  const ctx = contextOf(record)
  // In this order: each group adds its examples, and an invariant shows them in the order they were found.
  const activationFigures = activations(ctx)
  const removalFigures = removals(ctx)
  const signInFigures = signIns(ctx)
  const messageFigures = messages(ctx)
  const api = apiFigures(ctx)
  return {
    planned: Math.floor(record.options.rate * record.options.loadSeconds),
    withoutIssuedLog: record.codes.length - ctx.messageIdOf.size,
    activations: activationFigures,
    removals: removalFigures,
    signIns: signInFigures,
    messages: messageFigures,
    api,
    faults: faults(ctx, activationFigures.latencyOf, api.issued),
    processes: processes(ctx),
    attack: attack(ctx),
    examples: ctx.examples
  }
}

type Judge = (id: string, label: string, value: number | string, expected: string, pass: boolean) => Invariant

/** The run did the work it was meant to: enough codes, every fault injected. */
function runInvariants (record: SoakRecord, f: Figures, inv: Judge): Invariant[] {
  const { options } = record
  const injected = record.faults.filter((fault) => fault.error === undefined).length
  return [
    inv('load', 'codes issued (getcode 200)', record.codes.length, `≥ ${Math.ceil(f.planned / 2)} (half of ${f.planned} planned)`, record.codes.length >= f.planned / 2),
    inv('faults', 'faults injected as planned', `${injected}/${options.faults.length}`, `${options.faults.length}/${options.faults.length}`, injected === options.faults.length && record.faults.length === options.faults.length)
  ]
}

function activationInvariants (record: SoakRecord, f: Figures, inv: Judge): Invariant[] {
  const { neverValid, lateOutsideWindow } = f.activations
  return [
    inv('never-valid', 'codes never valid before expiry', neverValid, '0', neverValid === 0),
    inv('late-outside-window', `codes valid later than ${record.options.bounds.activationMs} ms outside fault windows`, lateOutsideWindow, '0', lateOutsideWindow === 0)
  ]
}

function signInInvariants (f: Figures, inv: Judge): Invariant[] {
  const { counts, acceptedTwice, unknownUnanswered } = f.signIns
  return [
    inv('valid-refused', 'sign-ins refused while the code was valid and unused', counts.strictRefused + counts.pairsNoneApproved, `0 (of ${counts.strict + counts.pairs})`, counts.strictRefused + counts.pairsNoneApproved === 0 && counts.strict + counts.pairs > 0),
    inv('accepted-after-expiry', 'codes accepted after expiry', counts.afterExpiryApproved, `0 (of ${counts.afterExpiry})`, counts.afterExpiryApproved === 0 && counts.afterExpiry > 0),
    // Zero approvals out of zero attempts proves nothing: each needs attempts that got an answer.
    inv('accepted-twice', 'codes accepted twice', acceptedTwice, `0 (of ${counts.pairs} pairs, ${counts.usedAgain} reuses; some needed)`, acceptedTwice === 0 && counts.pairs + counts.usedAgain > 0),
    inv('unknown-accepted', 'never-issued codes accepted', counts.unknownApproved, `0 (of ${counts.unknown - unknownUnanswered} answered; some needed)`, counts.unknownApproved === 0 && counts.unknown - unknownUnanswered > 0)
  ]
}

function killInvariants (f: Figures, inv: Judge): Invariant[] {
  const { kills, killsNotInFlight } = f.faults
  return [
    inv('kill-in-flight', 'worker kills that found the worker idle, or whose held messages never came back', killsNotInFlight.length, `0 (of ${kills.length})`, killsNotInFlight.length === 0)
  ]
}

function removalInvariants (record: SoakRecord, f: Figures, inv: Judge): Invariant[] {
  const { leftPastBound, leftAtEnd } = f.removals
  return [
    inv('left-past-bound', `rows left ${record.options.bounds.removalMs} ms past expiry outside fault windows`, leftPastBound, '0', leftPastBound === 0),
    inv('left-at-end', 'rows left at the end (codes never seen gone / rows in the table)', `${leftAtEnd} / ${record.final.tableRows ?? '?'}`, '0 / 0', leftAtEnd === 0 && record.final.tableRows === 0)
  ]
}

function messageInvariants (record: SoakRecord, f: Figures, inv: Judge): Invariant[] {
  const { lost, codesPoisoned, garbageNotPoisoned, garbage } = f.messages
  return [
    inv('lost', 'messages lost (neither processed nor poisoned)', lost, '0', lost === 0),
    inv('code-poisoned', 'code messages in the poison queue', codesPoisoned, '0', codesPoisoned === 0),
    inv('garbage', 'garbage messages not in the poison queue', garbageNotPoisoned, `0 (of ${garbage})`, garbageNotPoisoned === 0 && record.final.poisonError === undefined),
    inv('queue', 'messages left in code-requests', record.final.queueLength ?? (record.final.queueError ?? '?'), '0', record.final.queueLength === 0)
  ]
}

function apiInvariants (record: SoakRecord, f: Figures, inv: Judge): Invariant[] {
  const { withoutReason, unmapped, malformed, outsideOutages } = f.api.answers
  const { overloadOther } = f.api
  const { unrecovered } = f.faults
  const { apiRestarted } = f.processes
  return [
    inv('api-reason', 'api 5xx without a reason, or with "internal"', withoutReason + unmapped, '0', withoutReason + unmapped === 0 && malformed === 0 && record.logs.apiUnexpected === 0),
    inv('api-failure-outside-outage', 'api failures outside outage windows', outsideOutages, '0', outsideOutages === 0),
    inv('overload-answers', 'api failures during an overload other than 503 overloaded', overloadOther, '0', overloadOther === 0),
    inv('not-recovered', `faults after which getcode took over ${record.options.bounds.recoveryMs / 1000} s to answer 200`, unrecovered.length, '0', unrecovered.length === 0),
    inv('api-restarted', 'api restarts', apiRestarted ? 1 : 0, '0', !apiRestarted)
  ]
}

function processInvariants (record: SoakRecord, f: Figures, inv: Judge): Invariant[] {
  const { exited, secretHits, atRest } = f.processes
  return [
    inv('crashes', 'processes that exited unasked', exited.length, '0', exited.length === 0),
    inv('secrets', 'log lines with a secret', secretHits, '0', secretHits === 0),
    inv('codes-in-logs', 'whole codes in logs', record.logs.codeHits.length, '0', record.logs.codeHits.length === 0),
    // The checks above read the workers' events; with some missing they prove less.
    inv('worker-events', 'worker events lost or refused on their channels', record.workerEvents.lost + record.workerEvents.rejectedCount, '0', record.workerEvents.lost + record.workerEvents.rejectedCount === 0),
    // Read after the run: every table entity, queue and poison message; a run that could not read them proves nothing.
    inv('codes-at-rest', 'issued codes in clear in the table, a queue or the poison queue', atRest.length, `0 (of ${record.final.scannedAtRest ?? 0} entities and messages read)`, atRest.length === 0 && (record.final.scannedAtRest ?? 0) > 0),
    inv('soak-errors', 'errors in the soak\'s own tasks', record.soakErrors.length, '0', record.soakErrors.length === 0)
  ]
}

/** Only when the run had an attacker. */
function attackInvariants (record: SoakRecord, f: Figures, inv: Judge): Invariant[] {
  const { options } = record
  if (options.attack === undefined || options.attack.perSecond <= 0) return []
  const attack = f.attack.counts
  return [
    inv('attack-approved', 'attacker guesses approved', attack.approved, `0 (of ${attack.guesses})`, attack.approved === 0 && attack.guesses > 0),
    inv('attack-over-limit', `attacker addresses with more than ${f.attack.limit} guesses judged, over ${options.apis} apis`, attack.addressesOverLimit, `0 (of ${attack.addresses}; most ${attack.maxJudgedPerAddress})`, attack.addressesOverLimit === 0 && attack.judged > 0)
  ]
}

/** The figures → verdicts part: every invariant, in the order the report prints them. */
function invariantsOf (record: SoakRecord, f: Figures): Invariant[] {
  const inv: Judge = (id, label, value, expected, pass) => {
    const examples = f.examples.of(id)
    return { id, label, value, expected, pass, ...(examples !== undefined ? { examples } : {}) }
  }
  return [
    ...runInvariants(record, f, inv),
    ...activationInvariants(record, f, inv),
    ...signInInvariants(f, inv),
    ...killInvariants(f, inv),
    ...removalInvariants(record, f, inv),
    ...messageInvariants(record, f, inv),
    ...apiInvariants(record, f, inv),
    ...processInvariants(record, f, inv),
    ...attackInvariants(record, f, inv)
  ]
}

export function analyze (record: SoakRecord): Analysis {
  const f = figuresOf(record)
  const invariants = invariantsOf(record, f)
  const a = f.activations
  return {
    passed: invariants.every((i) => i.pass),
    invariants,
    attack: f.attack.counts,
    codes: {
      planned: f.planned,
      issued: record.codes.length,
      skipped: record.skipped,
      validWithinBound: a.validWithinBound,
      validLateInWindow: a.validLateInWindow,
      lateOutsideWindow: a.lateOutsideWindow,
      neverValid: a.neverValid,
      inActivationWindow: a.inActivationWindow,
      activatedOnRedelivery: a.activatedOnRedelivery,
      withoutIssuedLog: f.withoutIssuedLog
    },
    latency: {
      activation: stats(a.activation),
      activationInWindow: stats(a.activationInWindow),
      removal: stats(f.removals.removal),
      removalInWindow: stats(f.removals.removalInWindow),
      getcode: stats(f.api.issued.map((c) => c.answeredAt - c.sentAt)),
      signIn: stats(record.signIns.filter((s) => !failed(s)).map((s) => s.answeredAt - s.sentAt))
    },
    signIns: f.signIns.counts,
    messages: f.messages,
    api: f.api.answers,
    faults: f.faults.faults,
    logs: {
      lines: Object.values(record.logs.lines).reduce((a, b) => a + b, 0),
      secretHits: f.processes.secretHits,
      codeHits: record.logs.codeHits.length,
      issuedCodeHits: record.logs.codeHits.filter((h) => h.issued).length,
      errorLines: Object.fromEntries(Object.entries(record.logs.levels).map(([p, l]) => [p, l.error + l.fatal]).filter(([, n]) => n !== 0))
    },
    durations: {
      startupSeconds: round1((record.systemReadyAt - record.startedAt) / 1000),
      loadSeconds: round1((record.loadEndedAt - record.loadStartedAt) / 1000),
      drainSeconds: round1((record.drainEndedAt - record.loadEndedAt) / 1000),
      totalSeconds: round1((record.drainEndedAt - record.startedAt) / 1000)
    }
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10
