/**
 * Sign-in: reserve an attempt against the client address's limits (and its
 * subject's, see limits.ts) before anything looks at the code, then the
 * single-use check in the codes table, then count a failure before the
 * refusal is answered. Every refusal looks the same to the caller; the
 * reason goes to the log. Every table call is bounded by STORAGE_TIMEOUT_MS
 * and the whole sign-in by one deadline: a table that does not answer is a
 * 503, never a hang.
 */
import { codeIdOf, type CodeHasher } from '@codegate/shared/code-hash'
import type { CodesTable, SignInRefusal } from '@codegate/shared/codes-table'
import { untilAborted } from '@codegate/shared/race'
import { clientAddress } from './client-address.js'
import { StorageUnavailableError } from './errors.js'
import type { SignInLimits } from './limits.js'

/** `codeId` names the code in logs: the id of the row found, else of its hash under the current key. */
export type SignInOutcome = { codeId: string } & (
  | { status: 'approved' }
  | { status: 'refused', reason: SignInRefusal }
  /** `busy`: the limit is taken by attempts still in flight; `locked`: by failures. */
  | { status: 'locked', reason: 'locked' | 'busy', retryAfterSeconds: number })

export interface SignInRequest {
  code: string
  subject?: string
  /** Client address (request.ip), normalised here before it is counted. */
  ip: string
}

export interface SignInOptions {
  table: Pick<CodesTable, 'consume'>
  /** The code hash keys (current and, during a rotation, previous); throws (a 503) while not loaded. */
  hasher: () => Promise<CodeHasher>
  limits: SignInLimits
  now: () => Date
  /** The whole sign-in's deadline. */
  timeoutMs: number
}

class DeadlineError extends Error {
  constructor () {
    super('the sign-in did not finish within its deadline')
  }
}

/** A call queued behind a hung one must not wait it out: each table call gives up when the deadline passes. */
const deadlineError = (): Error => new DeadlineError()

export class SignInService {
  constructor (private readonly options: SignInOptions) {}

  async signIn (request: SignInRequest): Promise<SignInOutcome> {
    const { table, limits, now, timeoutMs } = this.options
    // Hashed before anything is counted: without the key this is a 503, not a failure.
    const hashes = (await this.options.hasher()).candidates(request.code)
    const codeId = codeIdOf(hashes[0] as string)
    const signal = AbortSignal.timeout(timeoutMs)
    let reservation
    try {
      reservation = await untilAborted(limits.reserve(clientAddress(request.ip), request.subject, signal), signal, deadlineError)
    } catch (err) {
      throw new StorageUnavailableError('table', { cause: err })
    }
    if (!reservation.ok) return { status: 'locked', reason: reservation.reason, retryAfterSeconds: reservation.retryAfterSeconds, codeId }
    const { ticket } = reservation
    let result
    try {
      result = await untilAborted(table.consume(hashes, request.subject, now(), { abortSignal: signal }), signal, deadlineError)
    } catch (err) {
      limits.abandon(ticket)
      throw new StorageUnavailableError('table', { cause: err })
    }
    // A lost race means the caller held a valid code a moment ago: not a guess.
    const foundId = result.codeHash !== undefined ? codeIdOf(result.codeHash) : codeId
    if (result.approved || result.reason === 'race') {
      limits.succeed(ticket)
      return result.approved ? { status: 'approved', codeId: foundId } : { status: 'refused', reason: 'race', codeId: foundId }
    }
    try {
      // Counted before the refusal is answered. If it cannot be, the answer is a
      // 503 and the reservation goes on counting until it lapses.
      await untilAborted(limits.fail(ticket, signal), signal, deadlineError)
    } catch (err) {
      throw new StorageUnavailableError('table', { cause: err })
    }
    return { status: 'refused', reason: result.reason, codeId: foundId }
  }
}
