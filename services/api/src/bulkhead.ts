/**
 * At most `maxInFlight` calls of a kind at once, and at most `maxWaiting`
 * waiting for a turn, each for at most `maxWaitMs`; one more is refused at
 * once, and a waiter whose turn does not come in time is refused then, with
 * OverloadedError. So a slow dependency holds at most maxInFlight +
 * maxWaiting requests (and their sockets and memory), and no request waits
 * longer than maxWaitMs for a turn however slow the calls ahead of it are.
 */
import { CodegateError } from '@codegate/shared/errors'

/** Refused without being tried: too much is already in flight. */
export class OverloadedError extends CodegateError {
  constructor (readonly what: string, readonly retryAfterSeconds: number) {
    super('OVERLOADED', `too many ${what} in flight`)
  }
}

export interface BulkheadLimits {
  maxInFlight: number
  maxWaiting: number
  /** What a refused caller is told to wait (default 1). */
  retryAfterSeconds?: number
  /** How long a waiter waits at most (default 0: no limit). */
  maxWaitMs?: number
  /** Told of each refusal, whether at once or after the wait (a metric). */
  onRefused?: () => void
}

export class Bulkhead {
  #active = 0
  /** Waiters in arrival order; each is handed a slot by the call that ends. */
  readonly #waiting: (() => void)[] = []
  readonly maxInFlight: number
  readonly maxWaiting: number
  readonly retryAfterSeconds: number
  readonly maxWaitMs: number
  readonly #onRefused: () => void

  constructor (readonly what: string, limits: BulkheadLimits) {
    const { maxInFlight, maxWaiting } = limits
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`maxInFlight must be a positive integer, not ${maxInFlight}`)
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) throw new RangeError(`maxWaiting must be a non-negative integer, not ${maxWaiting}`)
    this.maxInFlight = maxInFlight
    this.maxWaiting = maxWaiting
    this.retryAfterSeconds = limits.retryAfterSeconds ?? 1
    this.maxWaitMs = limits.maxWaitMs ?? 0
    this.#onRefused = limits.onRefused ?? (() => {})
  }

  get inFlight (): number { return this.#active }
  get waiting (): number { return this.#waiting.length }
  /** Whether run() would refuse a call now: every slot taken and the waiting line full. */
  get full (): boolean { return this.#active >= this.maxInFlight && this.#waiting.length >= this.maxWaiting }

  /** Throws the OverloadedError run() would throw now; a cheap look before any other work is done for a call. */
  refuseWhenFull (): void {
    if (this.full) throw this.#refused()
  }

  /** Runs `task` when there is room; rejects with OverloadedError at once when the waiting line is full too. */
  async run<T> (task: () => Promise<T>): Promise<T> {
    if (this.#active < this.maxInFlight) {
      this.#active++
    } else {
      this.refuseWhenFull()
      await this.#turn()
    }
    try {
      return await task()
    } finally {
      this.#release()
    }
  }

  /** Resolves when a finishing call hands over its slot (#active unchanged); rejects when maxWaitMs passes first. */
  async #turn (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const handOver = (): void => { clearTimeout(timer); resolve() }
      this.#waiting.push(handOver)
      if (this.maxWaitMs > 0) {
        timer = setTimeout(() => {
          const at = this.#waiting.indexOf(handOver)
          if (at >= 0) this.#waiting.splice(at, 1)
          reject(this.#refused())
        }, this.maxWaitMs)
      }
    })
  }

  #refused (): OverloadedError {
    this.#onRefused()
    return new OverloadedError(this.what, this.retryAfterSeconds)
  }

  #release (): void {
    const next = this.#waiting.shift()
    if (next !== undefined) next()
    else this.#active--
  }
}
