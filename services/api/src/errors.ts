/**
 * What the api answers when something fails: a status, a stable `error` code
 * clients branch on, and a message a person can act on. Upstream statuses and
 * bodies never reach the client; the logs keep the detail.
 */
import { CodegateError } from '@codegate/shared/errors'
import { CodeHashKeyError } from '@codegate/shared/code-hash'
import { SecretUnavailableError } from '@codegate/shared/secret-provider'
import { OverloadedError } from './bulkhead.js'

export class HttpError extends CodegateError {
  readonly statusCode: number
  readonly headers: Record<string, string>

  constructor (statusCode: number, code: string, message: string, options?: ErrorOptions & { headers?: Record<string, string> }) {
    super(code, message, options)
    this.statusCode = statusCode
    this.headers = options?.headers ?? {}
  }
}

export type ThirdPartyFailure = 'unauthorized' | 'status' | 'network' | 'body' | 'timeout'

/** The third-party number could not be had; `reason` and `upstreamStatus` are for logs only. */
export class ThirdPartyError extends CodegateError {
  constructor (readonly reason: ThirdPartyFailure, message: string, readonly upstreamStatus?: number, options?: ErrorOptions) {
    super(reason === 'timeout' ? 'THIRD_PARTY_TIMEOUT' : 'THIRD_PARTY_FAILED', message, options)
  }
}

/** Queue or table did not answer (or refused); the request can be retried later. */
export class StorageUnavailableError extends CodegateError {
  constructor (readonly resource: 'queue' | 'table', options?: ErrorOptions) {
    super('STORAGE_UNAVAILABLE', `the ${resource} did not accept the request`, options)
  }
}

const NO_CODE = 'Could not get you a code.'

/** The answer of every shed request, from the pressure check or the outgoing bound. */
export function overloadedMessage (retryAfterSeconds: number): string {
  return `The service is overloaded; try again in ${retryAfterSeconds} seconds.`
}

/** Maps what the domain throws to the answer; undefined for anything unexpected (a 500). */
export function toHttpError (err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err
  if (err instanceof ThirdPartyError) {
    return err.reason === 'timeout'
      ? new HttpError(504, 'third_party_timeout', `${NO_CODE} The number service did not answer in time; try again.`)
      : new HttpError(502, 'third_party_failed', NO_CODE)
  }
  if (err instanceof SecretUnavailableError) {
    return new HttpError(503, 'vault_unavailable', `${NO_CODE} The service is not ready; try again shortly.`)
  }
  if (err instanceof CodeHashKeyError) {
    // Without the key no code can be stored or checked; /readyz says why.
    return new HttpError(503, 'vault_unavailable', 'The service is not ready; try again shortly.')
  }
  if (err instanceof OverloadedError) {
    return new HttpError(503, 'overloaded', overloadedMessage(err.retryAfterSeconds), { headers: { 'retry-after': String(err.retryAfterSeconds) } })
  }
  if (err instanceof StorageUnavailableError) {
    return err.resource === 'queue'
      ? new HttpError(503, 'queue_unavailable', `${NO_CODE} Storage is unavailable; try again shortly.`)
      : new HttpError(503, 'storage_unavailable', 'Sign-in is unavailable right now; try again shortly.')
  }
  return undefined
}
