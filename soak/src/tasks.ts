/**
 * The soak's background work: every task it starts is tracked, so the run can
 * wait for all of them, and one abort (the drain deadline, or the caller)
 * ends every sleep at once. A task that fails is recorded, never thrown into
 * the void; an abort is how tasks end, not a failure.
 */
import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'

const isAbort = (err: unknown): boolean => (err as { name?: string } | null)?.name === 'AbortError'

export class TaskGroup {
  readonly #halt = new AbortController()
  readonly #tasks = new Set<Promise<void>>()

  /** `onError` gets the stack of each task that failed. */
  constructor (private readonly onError: (text: string) => void) {
    // Every waiting task listens to it: hundreds of listeners are expected.
    setMaxListeners(0, this.#halt.signal)
  }

  get signal (): AbortSignal {
    return this.#halt.signal
  }

  get stopped (): boolean {
    return this.#halt.signal.aborted
  }

  /** Tasks still running. */
  get size (): number {
    return this.#tasks.size
  }

  halt (reason?: unknown): void {
    this.#halt.abort(reason)
  }

  track (task: Promise<void>): void {
    const guarded = task.catch((err: unknown) => {
      if (isAbort(err)) return
      this.onError(err instanceof Error ? err.stack ?? err.message : String(err))
    })
    this.#tasks.add(guarded)
    void guarded.finally(() => { this.#tasks.delete(guarded) })
  }

  /** Resolves at `at` (epoch ms); rejects with an AbortError once halted. */
  async sleepUntil (at: number): Promise<void> {
    const ms = at - Date.now()
    if (ms > 0) await sleep(ms, undefined, { signal: this.#halt.signal })
    else this.#halt.signal.throwIfAborted()
  }

  /** Every task tracked now, settled. */
  async settled (): Promise<void> {
    await Promise.allSettled([...this.#tasks])
  }
}
