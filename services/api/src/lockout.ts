/**
 * Failed sign-in attempts per key (a subject, or a client address for sign-ins
 * without one). After `maxFailures` failures the key is locked for
 * `lockoutSeconds`, right or wrong code, so guessing a subject's code costs
 * time. The flip side is that anyone can lock a subject for that long.
 *
 * The store is in memory, so the limit is per api instance: with n instances
 * behind a load balancer an attacker gets up to n × maxFailures tries per
 * lockout period. A shared store (e.g. the codes table) would make it global.
 */

export interface LockoutOptions {
  maxFailures: number
  lockoutSeconds: number
  /** Keys remembered at most; the oldest are forgotten first, bounding memory under a flood of subjects. */
  maxEntries?: number
}

interface Entry {
  failures: number
  lastFailureAt: number
  lockedUntil: number
}

export type LockState = { locked: false } | { locked: true, retryAfterSeconds: number }

export class Lockout {
  readonly #entries = new Map<string, Entry>()
  readonly #maxEntries: number

  constructor (private readonly options: LockoutOptions) {
    this.#maxEntries = options.maxEntries ?? 100_000
  }

  get size (): number {
    return this.#entries.size
  }

  check (key: string, now: Date): LockState {
    const entry = this.#live(key, now.getTime())
    if (entry === undefined || entry.lockedUntil <= now.getTime()) return { locked: false }
    return { locked: true, retryAfterSeconds: Math.max(1, Math.ceil((entry.lockedUntil - now.getTime()) / 1000)) }
  }

  /** Counts a failure; returns the state after it (locked when this one reached the limit). */
  fail (key: string, now: Date): LockState {
    const t = now.getTime()
    const entry = this.#live(key, t) ?? { failures: 0, lastFailureAt: t, lockedUntil: 0 }
    entry.failures++
    entry.lastFailureAt = t
    if (entry.failures >= this.options.maxFailures) {
      entry.lockedUntil = t + this.options.lockoutSeconds * 1000
      entry.failures = 0
    }
    // Re-inserting keeps the Map in least-recently-failed order for eviction.
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string
      this.#entries.delete(oldest)
    }
    return this.check(key, now)
  }

  succeed (key: string): void {
    this.#entries.delete(key)
  }

  /** The entry, unless it is stale: failures are forgotten one lockout period after the last one. */
  #live (key: string, t: number): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    const forgetAt = Math.max(entry.lockedUntil, entry.lastFailureAt + this.options.lockoutSeconds * 1000)
    if (t >= forgetAt) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }
}
