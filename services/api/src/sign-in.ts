/**
 * Sign-in: the lockout first (no table access for a locked subject), then the
 * single-use check in the codes table. Every refusal looks the same to the
 * caller; the reason goes to the log.
 */
import type { CodesTable, SignInRefusal } from '@codegate/shared/codes-table'
import { StorageUnavailableError } from './errors.js'
import type { Lockout } from './lockout.js'

export type SignInOutcome =
  | { status: 'approved' }
  | { status: 'refused', reason: SignInRefusal }
  | { status: 'locked', retryAfterSeconds: number }

export interface SignInRequest {
  code: string
  subject?: string
  /** Client address: the lockout key when there is no subject. */
  ip: string
}

export interface SignInOptions {
  table: Pick<CodesTable, 'consume'>
  lockout: Lockout
  now: () => Date
}

export function lockoutKey (request: Pick<SignInRequest, 'subject' | 'ip'>): string {
  return request.subject !== undefined ? `subject:${request.subject}` : `ip:${request.ip}`
}

export class SignInService {
  constructor (private readonly options: SignInOptions) {}

  async signIn (request: SignInRequest): Promise<SignInOutcome> {
    const { table, lockout, now } = this.options
    const key = lockoutKey(request)
    const state = lockout.check(key, now())
    if (state.locked) return { status: 'locked', retryAfterSeconds: state.retryAfterSeconds }
    let result
    try {
      result = await table.consume(request.code, request.subject, now())
    } catch (err) {
      throw new StorageUnavailableError('table', { cause: err })
    }
    if (result.approved) {
      lockout.succeed(key)
      return { status: 'approved' }
    }
    // A lost race means the caller held a valid code a moment ago: not a guess.
    if (result.reason !== 'race') lockout.fail(key, now())
    return { status: 'refused', reason: result.reason }
  }
}
