/**
 * A seeded generator (mulberry32) for the soak's choices: which codes get a
 * sign-in plan, when, and which garbage. The same seed gives the same plan,
 * so a failing run can be repeated; timing on a shared machine still varies.
 */
export class Random {
  #state: number

  constructor (seed: number) {
    this.#state = seed >>> 0
  }

  /** In [0, 1). */
  next (): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let t = this.#state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** In [min, max). */
  between (min: number, max: number): number {
    return min + this.next() * (max - min)
  }

  /** An integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  pick<T> (items: readonly T[]): T {
    const item = items[this.int(items.length)]
    if (item === undefined) throw new RangeError('pick from an empty list')
    return item
  }
}
