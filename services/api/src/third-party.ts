/**
 * The third-party RandomNumber call: the key from the vault in
 * `x-functions-key`, a hard timeout, and a strict check of the answer. A 401
 * means the key was rotated: the vault is read again and the call retried once.
 */
import { isValidNumber } from '@codegate/shared/code'
import { untilAborted } from '@codegate/shared/race'
import { SecretUnavailableError } from '@codegate/shared/secret-provider'
import { ThirdPartyError } from './errors.js'
import { secondsSince, type ThirdPartyObserver } from './metrics.js'

/** The part of SecretProvider this needs. */
export interface KeySource {
  readonly name: string
  get: () => Promise<string>
  refresh: (rejected: string) => Promise<string>
}

export interface ThirdPartyOptions {
  endpoint: string
  timeoutMs: number
  keys: KeySource
  /** Told each call's time and outcome, each failure's reason and each key reload. */
  observe?: ThirdPartyObserver
}

/** `{"value": 123}` is a few bytes; anything much longer is not an answer. */
const MAX_BODY_BYTES = 4096

type Attempt = { ok: true, value: number } | { ok: false, error: ThirdPartyError }

export class ThirdPartyNumbers {
  constructor (private readonly options: ThirdPartyOptions) {}

  /** A number in 1..1000, or a ThirdPartyError / SecretUnavailableError. */
  async next (): Promise<number> {
    // One deadline for connect, headers, body and any retry: the caller waits at
    // at most this long. Cleared on return: AbortSignal.timeout would leave a
    // timer per request to fire seconds later.
    const deadline = new AbortController()
    const timer = setTimeout(() => { deadline.abort(new DOMException('the number service did not answer in time', 'TimeoutError')) }, this.options.timeoutMs)
    try {
      return await this.#next(deadline.signal)
    } catch (err) {
      this.options.observe?.failure(err instanceof ThirdPartyError ? err.reason : 'key_unavailable')
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  async #next (signal: AbortSignal): Promise<number> {
    const { keys } = this.options
    // A hung vault read (the SDK has no timeout of its own) must not hold the request either.
    const key = await untilAborted(keys.get(), signal, () => new SecretUnavailableError(keys.name))
    let attempt = await this.#callOnce(key, signal)
    if (!attempt.ok && attempt.error.reason === 'unauthorized') {
      let fresh: string
      try {
        fresh = await untilAborted(keys.refresh(key), signal, () => new SecretUnavailableError(keys.name))
        this.options.observe?.keyReload(true)
      } catch (err) {
        this.options.observe?.keyReload(false)
        throw err
      }
      // The vault still holds the rejected key: a second call would be refused too.
      if (fresh !== key) attempt = await this.#callOnce(fresh, signal)
    }
    if (!attempt.ok) throw attempt.error
    return attempt.value
  }

  /**
   * A kept-alive connection the server closed just as we reused it fails
   * before any answer ("other side closed"); the GET is safe to send again once.
   */
  async #callOnce (key: string, signal: AbortSignal): Promise<Attempt> {
    const attempt = await this.#timedCall(key, signal)
    if (!attempt.ok && isStaleConnection(attempt.error)) return await this.#timedCall(key, signal)
    return attempt
  }

  async #timedCall (key: string, signal: AbortSignal): Promise<Attempt> {
    const start = performance.now()
    const attempt = await this.#call(key, signal)
    this.options.observe?.call(secondsSince(start), attempt.ok ? 'ok' : attempt.error.reason)
    return attempt
  }

  async #call (key: string, signal: AbortSignal): Promise<Attempt> {
    let response: Response
    try {
      response = await fetch(this.options.endpoint, {
        method: 'GET',
        headers: { 'x-functions-key': key, accept: 'application/json' },
        redirect: 'error',
        signal
      })
    } catch (err) {
      return { ok: false, error: fetchError(err) }
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {})
      const reason = response.status === 401 ? 'unauthorized' : 'status'
      return { ok: false, error: new ThirdPartyError(reason, `the number service answered ${response.status}`, response.status) }
    }
    let text: string
    try {
      text = await readCapped(response, MAX_BODY_BYTES, signal)
    } catch (err) {
      return { ok: false, error: err instanceof ThirdPartyError ? err : fetchError(err) }
    }
    const value = parseNumber(text)
    if (value === undefined) {
      return { ok: false, error: new ThirdPartyError('body', 'the number service answered something other than {"value": 1..1000}', response.status) }
    }
    return { ok: true, value }
  }
}

const STALE_CONNECTION_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'])

function isStaleConnection (err: ThirdPartyError): boolean {
  if (err.reason !== 'network') return false
  const code = ((err.cause as { cause?: { code?: unknown } } | undefined)?.cause)?.code
  return typeof code === 'string' && STALE_CONNECTION_CODES.has(code)
}

function fetchError (err: unknown): ThirdPartyError {
  const name = (err as { name?: unknown } | null)?.name
  if (name === 'TimeoutError') return new ThirdPartyError('timeout', 'the number service did not answer in time', undefined, { cause: err })
  return new ThirdPartyError('network', 'the number service could not be reached', undefined, { cause: err })
}

/** The body as text, at most `maxBytes`, given up when `signal` aborts (exported for its test). */
export async function readCapped (response: Response, maxBytes: number, signal: AbortSignal): Promise<string> {
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  // Each read races the deadline itself: fetch's signal is meant to error the
  // body too, but a body that stalled after its first bytes once held a
  // getcode (and its test) for minutes past the deadline on a loaded machine.
  const timedOut = (): Error => new DOMException('the number service did not answer in time', 'TimeoutError')
  try {
    for (;;) {
      const { done, value } = await untilAborted(reader.read(), signal, timedOut)
      if (done) break
      size += value.byteLength
      if (size > maxBytes) throw new ThirdPartyError('body', `the number service answered more than ${maxBytes} bytes`, response.status)
      chunks.push(value)
    }
  } catch (err) {
    await reader.cancel().catch(() => {})
    throw err
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The value of `{"value": n}` when n is an integer in 1..1000. */
export function parseNumber (text: string): number | undefined {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const value = (body as { value?: unknown }).value
  return isValidNumber(value) ? value : undefined
}
