/**
 * Failed sign-ins, counted per client address and, within it, per subject
 * (docs/security.md says why and what it bounds):
 *
 * - an address is locked for `lockoutSeconds` after `maxFailures` failures,
 *   whatever subjects they named (rotating subjects buys nothing);
 * - within an address, a subject is locked for that address after
 *   `subjectMaxFailures` failures. Only the address that failed it: a stranger
 *   elsewhere cannot lock a user out;
 * - every attempt is reserved before the code is looked up, and a reservation
 *   counts like a failure until it is settled, so N parallel guesses get at
 *   most the limit judged. A failure turns it into a failure; a success or a
 *   lost race drops it (at the next write, or when it lapses after `holdMs`:
 *   an approved sign-in costs one storage write, not two).
 *
 * All of an address's state is one record, so one conditional write reserves
 * against both limits. The rules here are pure; a LimitStore keeps the
 * records (memory for one process, the limits table for every replica).
 */
import { createHash, randomUUID } from 'node:crypto'

export interface LimitRules {
  /** Failures per address before it is locked. */
  maxFailures: number
  /** Failures per subject and address before that address is locked for that subject. */
  subjectMaxFailures: number
  lockoutSeconds: number
  /** How long an unsettled reservation counts: longer than any sign-in can take. */
  holdMs: number
}

export interface Counter {
  failures: number
  lastFailureAt: number
  lockedUntil: number
}

export interface Pending {
  id: string
  /** When it stops counting, settled or not. */
  until: number
  subject?: string
}

/** Everything known of one client address. Subjects are kept as hashes. */
export interface AddressState {
  counter: Counter
  subjects: Record<string, Counter>
  pending: Pending[]
}

export type Refusal = { reason: 'locked' | 'busy', retryAfterSeconds: number }

export const emptyState = (): AddressState => ({ counter: { failures: 0, lastFailureAt: 0, lockedUntil: 0 }, subjects: {}, pending: [] })

/** A subject as it is stored: not in clear, and of bounded length. */
export function subjectKey (subject: string): string {
  return createHash('sha256').update(subject).digest('base64url').slice(0, 16)
}

const live = (c: Counter, now: number, windowMs: number): boolean => c.lockedUntil > now || c.lastFailureAt + windowMs > now

/** The state without what has lapsed: failures one window after the last one (and its lock), reservations past their hold. */
export function prune (state: AddressState, now: number, rules: LimitRules): AddressState {
  const windowMs = rules.lockoutSeconds * 1000
  const subjects: Record<string, Counter> = {}
  for (const [key, counter] of Object.entries(state.subjects)) if (live(counter, now, windowMs)) subjects[key] = counter
  return {
    counter: live(state.counter, now, windowMs) ? state.counter : { failures: 0, lastFailureAt: 0, lockedUntil: 0 },
    subjects,
    pending: state.pending.filter((p) => p.until > now)
  }
}

/** When the state stops meaning anything (then it may be deleted). */
export function lapsesAt (state: AddressState, rules: LimitRules): number {
  const windowMs = rules.lockoutSeconds * 1000
  const of = (c: Counter): number => c.failures === 0 && c.lockedUntil === 0 ? 0 : Math.max(c.lockedUntil, c.lastFailureAt + windowMs)
  return Math.max(of(state.counter), ...Object.values(state.subjects).map(of), ...state.pending.map((p) => p.until))
}

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000))

/** Whether an attempt may go ahead, and the state with its reservation; `state` must be pruned. */
export function reserve (state: AddressState, subject: string | undefined, id: string, now: number, rules: LimitRules):
  { state: AddressState } | { refusal: Refusal } {
  const { counter } = state
  const own = subject !== undefined ? state.subjects[subject] : undefined
  const lockedUntil = Math.max(counter.lockedUntil, own?.lockedUntil ?? 0)
  if (lockedUntil > now) return { refusal: { reason: 'locked', retryAfterSeconds: seconds(lockedUntil - now) } }
  const nextFree = (list: Pending[]): number => list.length === 0 ? 1 : seconds(Math.min(...list.map((p) => p.until)) - now)
  if (counter.failures + state.pending.length >= rules.maxFailures) {
    return { refusal: { reason: 'busy', retryAfterSeconds: nextFree(state.pending) } }
  }
  if (subject !== undefined) {
    const pending = state.pending.filter((p) => p.subject === subject)
    if ((own?.failures ?? 0) + pending.length >= rules.subjectMaxFailures) {
      return { refusal: { reason: 'busy', retryAfterSeconds: nextFree(pending) } }
    }
  }
  const reservation: Pending = { id, until: now + rules.holdMs, ...(subject !== undefined ? { subject } : {}) }
  return { state: { ...state, pending: [...state.pending, reservation] } }
}

function failed (counter: Counter | undefined, max: number, now: number, windowMs: number): Counter {
  const failures = (counter?.failures ?? 0) + 1
  // The max-th failure locks, and the count starts again after the lock.
  return failures >= max
    ? { failures: 0, lastFailureAt: now, lockedUntil: now + windowMs }
    : { failures, lastFailureAt: now, lockedUntil: counter?.lockedUntil ?? 0 }
}

/** The reservation `id` turned into a failure of the address and of its subject; `state` must be pruned. */
export function fail (state: AddressState, id: string, subject: string | undefined, now: number, rules: LimitRules): AddressState {
  const windowMs = rules.lockoutSeconds * 1000
  const subjects = { ...state.subjects }
  if (subject !== undefined) subjects[subject] = failed(subjects[subject], rules.subjectMaxFailures, now, windowMs)
  return {
    counter: failed(state.counter, rules.maxFailures, now, windowMs),
    subjects,
    pending: state.pending.filter((p) => p.id !== id)
  }
}

/** The state without the reservations `ids` (settled without a failure). */
export function release (state: AddressState, ids: ReadonlySet<string>): AddressState {
  return ids.size === 0 ? state : { ...state, pending: state.pending.filter((p) => !ids.has(p.id)) }
}

/** What `change` decides: a new state to write (or none), and the answer. */
export interface Change<T> {
  state?: AddressState
  result: T
  /** A refusal read from a cache that may be stale: read the record again before believing it. */
  confirm?: boolean
}

/** Keeps the state of each address; `change` is applied atomically (it may be called more than once). */
export interface LimitStore {
  change: <T>(key: string, change: (state: AddressState) => Change<T>, signal?: AbortSignal) => Promise<T>
  /** The reservation `id` of `key` ended without a failure: drop it, at the latest when the next write of `key` is made. */
  settle: (key: string, id: string) => void
  /** Creates what the store needs; errors are for the caller to log. */
  prepare?: (signal?: AbortSignal) => Promise<void>
  close?: () => Promise<void>
}

export interface Ticket {
  key: string
  id: string
  subject?: string
}

export type Reservation = { ok: true, ticket: Ticket } | ({ ok: false } & Refusal)

/** The limits as the sign-in service uses them. */
export class SignInLimits {
  constructor (readonly store: LimitStore, readonly rules: LimitRules, private readonly now: () => Date) {}

  /** Reserves an attempt by `address` (normalised, see client-address.ts), for `subject` when given. */
  async reserve (address: string, subject: string | undefined, signal?: AbortSignal): Promise<Reservation> {
    const key = `ip:${address}`
    const id = randomUUID()
    const hashed = subject !== undefined ? subjectKey(subject) : undefined
    return await this.store.change<Reservation>(key, (current) => {
      const out = reserve(current, hashed, id, this.now().getTime(), this.rules)
      if ('refusal' in out) return { result: { ok: false, ...out.refusal }, confirm: out.refusal.reason === 'busy' }
      return { state: out.state, result: { ok: true, ticket: { key, id, ...(hashed !== undefined ? { subject: hashed } : {}) } } }
    }, signal)
  }

  /** The attempt failed: it counts against the address and its subject. */
  async fail (ticket: Ticket, signal?: AbortSignal): Promise<void> {
    await this.store.change(ticket.key, (current) => ({ state: fail(current, ticket.id, ticket.subject, this.now().getTime(), this.rules), result: undefined }), signal)
  }

  /** The attempt was approved (or lost a race for a valid code): its reservation is dropped, without a write of its own. */
  succeed (ticket: Ticket): void {
    this.store.settle(ticket.key, ticket.id)
  }

  /**
   * The attempt broke (storage failed): nothing was judged, so its
   * reservation is dropped like a success's. It still counts until the next
   * write of its address, or until it lapses.
   */
  abandon (ticket: Ticket): void {
    this.store.settle(ticket.key, ticket.id)
  }
}

/** One process's limits, in memory; the least recently changed addresses are forgotten first past `maxEntries`. */
export class MemoryLimitStore implements LimitStore {
  readonly #entries = new Map<string, AddressState>()

  constructor (private readonly rules: LimitRules, private readonly now: () => Date, private readonly maxEntries = 100_000) {}

  get size (): number {
    return this.#entries.size
  }

  async change<T> (key: string, change: (state: AddressState) => Change<T>): Promise<T> {
    const now = this.now().getTime()
    const out = change(prune(this.#entries.get(key) ?? emptyState(), now, this.rules))
    if (out.state !== undefined) this.#store(key, out.state)
    return out.result
  }

  settle (key: string, id: string): void {
    const state = this.#entries.get(key)
    if (state !== undefined) this.#store(key, release(state, new Set([id])))
  }

  #store (key: string, state: AddressState): void {
    this.#entries.delete(key)
    if (lapsesAt(state, this.rules) <= this.now().getTime()) return
    // Re-inserting keeps the Map in least-recently-changed order for eviction.
    this.#entries.set(key, state)
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string)
  }
}
