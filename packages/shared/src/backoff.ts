/**
 * Randomized exponential back-off, as the Azure Functions queue listener polls
 * an empty queue: the wait doubles from `minMs` to `maxMs`, each one drawn
 * from the upper half of its range so that workers started together drift
 * apart instead of polling in step. `maxMs` is a hard cap: with the worker's
 * idle back-off it is the worst-case delay before an issued code becomes
 * valid. The api's key loader retries the vault with it too.
 */
export class Backoff {
  private step = 0

  constructor (
    readonly minMs: number,
    readonly maxMs: number,
    private readonly random: () => number = Math.random
  ) {
    if (!(minMs > 0) || !(maxMs >= minMs)) throw new RangeError(`back-off needs 0 < minMs <= maxMs, got ${minMs} and ${maxMs}`)
  }

  /** The next wait, in ms: within [ceiling / 2, ceiling], ceiling = min(maxMs, minMs · 2^n). */
  next (): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** this.step)
    if (ceiling < this.maxMs) this.step++
    return Math.min(this.maxMs, Math.round(ceiling / 2 + this.random() * ceiling / 2))
  }

  /** After a poll that found work (or a call that succeeded): start again from `minMs`. */
  reset (): void {
    this.step = 0
  }
}
