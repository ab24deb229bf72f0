/**
 * A seeded generator (mulberry32) for the soak's choices (which codes get a
 * sign-in plan, when, which garbage) and the bench's simulation (arrivals,
 * shards, back-off). The same seed gives the same draws, so a failing soak
 * can be repeated and a simulation gives one output.
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

  /** A Poisson-distributed count with mean `mean` (Knuth below 30, the normal approximation above). */
  poisson (mean: number): number {
    if (mean <= 0) return 0
    if (mean < 30) {
      const limit = Math.exp(-mean)
      let k = 0
      let p = this.next()
      while (p > limit) { k++; p *= this.next() }
      return k
    }
    const u = Math.max(1e-12, this.next())
    const v = this.next()
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z))
  }
}
