/**
 * Loads the third-party key in the background until it is in the cache.
 *
 * Decision: a vault that is down when the api starts does not stop the api.
 * It starts, /readyz answers 503 (so no traffic is routed to it) and getcode
 * answers 503 vault_unavailable, while this loader retries with capped,
 * jittered back-off; getcode also tries the vault itself. Crashing instead
 * would turn a short vault outage into a restart loop of every replica, and
 * sign-in, which needs no key, keeps working meanwhile.
 */
import { Backoff } from '@codegate/shared/backoff'
import type { Logger } from '@codegate/shared/logger'

export interface KeyLoaderOptions {
  secrets: { get: () => Promise<unknown>, readonly loaded: boolean, readonly name: string }
  /** What is loaded, for the log lines; the third-party key by default. */
  what?: string
  log: Pick<Logger, 'info' | 'warn'>
  /** First retry delay; doubles up to maxRetryMs, each drawn from the upper half of its range. */
  retryMs: number
  maxRetryMs: number
}

export class KeyLoader {
  #timer: NodeJS.Timeout | undefined
  readonly #backoff: Backoff
  #stopped = false
  #lastError: string | undefined

  constructor (private readonly options: KeyLoaderOptions) {
    this.#backoff = new Backoff(options.retryMs, options.maxRetryMs)
  }

  get loaded (): boolean {
    return this.options.secrets.loaded
  }

  /** Why the key is not loaded yet, for /readyz. */
  get lastError (): string | undefined {
    return this.loaded ? undefined : this.#lastError ?? 'not loaded yet'
  }

  /** Tries once now; on failure keeps retrying in the background. Resolves after the first try. */
  async start (): Promise<void> {
    this.#stopped = false
    await this.#attempt()
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  async #attempt (): Promise<void> {
    const { secrets, log } = this.options
    const what = this.options.what ?? 'third-party key'
    if (this.#stopped || secrets.loaded) return
    try {
      await secrets.get()
      this.#backoff.reset()
      log.info({ event: 'key.loaded', secretName: secrets.name }, `${what} loaded from the vault`)
    } catch (err) {
      this.#lastError = err instanceof Error ? err.message : String(err)
      const delay = this.#backoff.next()
      log.warn({ err, event: 'key.unavailable', secretName: secrets.name, retryInMs: delay }, `could not load the ${what}; ${what === 'third-party key' ? 'getcode answers' : 'getcode and sign-in answer'} 503 until it loads`)
      if (this.#stopped) return
      this.#timer = setTimeout(() => { void this.#attempt() }, delay)
      this.#timer.unref()
    }
  }
}
