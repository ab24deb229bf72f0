/**
 * The code lifecycle: what the worker does with one queue message. Every rule
 * that keeps codes right under at-least-once delivery, a crash between any two
 * steps and several workers at once lives in this file (docs/architecture.md,
 * "Invariants"):
 *
 * - activate: a late one (now ≥ expiresAt) never makes a code valid: it is
 *   dropped. Otherwise the code is inserted if absent, then the same message
 *   is rewritten in place as an expire, hidden until expiresAt (updateMessage
 *   changes text and visibility in one call). A crash before the rewrite
 *   leaves the activate, whose redelivery finds the row and changes nothing;
 *   a crash after it leaves only the expire.
 * - expire: the row is deleted only once its expiresAt has passed, and only
 *   the issue this message activated (ETag, or a read that compares
 *   expiresAt). An early expire is hidden again for the time left. Then the
 *   message is deleted; a crash before that just repeats a delete that finds
 *   nothing.
 * - where a host owns the triggering message (an Azure Functions queue
 *   trigger, `nextMessage: 'send'`), the next phase is a new message sent
 *   hidden, and the host deletes the old one when the handler returns; a
 *   failure is thrown back to the host, which retries and poisons. A crash
 *   between the send and the host's delete redelivers the old message: an
 *   activate again (the row is there, so only a second expire is sent; two
 *   expires for one issue delete it once), or an expire again (its delete
 *   finds nothing).
 * - an activate that no api could have sent (a life longer than the code TTL,
 *   or issued in the future, beyond CLOCK_SKEW_SECONDS) goes to the poison
 *   queue at once, and no row is written: a forged message must not make a
 *   code live for ever (`implausibility`).
 * - a message nobody can read goes to the poison queue at once; one whose
 *   handling keeps failing goes there after `maxDequeueCount` tries (see
 *   `attemptOf` for how tries are counted). Poison is sent before the
 *   original is deleted, so a crash in between duplicates, never loses.
 *
 * The queue and the clock come in as `LifecycleDeps`, so the rules run the
 * same against Azure, Azurite, or a test's fake queue.
 */
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { codeIdOf } from './code-hash.js'
import type { CodesTable } from './codes-table.js'
import { decodeMessage, encodeMessage, encodePoison, withoutCodes, type CodeMessage, type DecodedMessage, type HashCode, type MessageEncoding, type MessageSource } from './message.js'
import { contextFrom, linkTo, tracer } from './tracing.js'

/** What the worker needs of one received queue message. */
export interface ReceivedMessage {
  messageId: string
  /** Receives so far, this one included (Azure's DequeueCount). */
  dequeueCount: number
  insertedOn: Date
  messageText: string
}

/** The two table operations the lifecycle uses. */
export type LifecycleTable = Pick<CodesTable, 'insert' | 'deleteExpired'>

export interface LifecycleRules {
  /** How the worker writes message text (the rewritten expire, poison). */
  encoding: MessageEncoding
  /**
   * CODE_TTL_SECONDS: the longest life an activate may claim (plus
   * CLOCK_SKEW_SECONDS), and the life given to the original sample's
   * `{code, timestamp}` messages, which carry no expiry.
   */
  codeTtlSeconds: number
  /** Tries of one phase before its message goes to the poison queue. */
  maxDequeueCount: number
  /**
   * Hashes a code in clear (the original sample's messages, earlier
   * envelopes); without it such messages are poisoned, their code scrubbed.
   */
  hashCode?: HashCode
  /** Longest wait before a failed message is tried again (the processing visibility timeout). */
  maxRetryDelaySeconds: number
  /**
   * How the next phase reaches the queue. `rewrite` (the default, the
   * container worker): this message is rewritten and hidden in one
   * updateMessage. `send` (a Functions queue trigger, which cannot hide its
   * own message: azure-webjobs-sdk#2799, azure-functions-host#4176):
   * `requeue` sends a new message and the host deletes this one on success;
   * `remove` is then the host's job too, and a failure is not released here
   * but returned for the adapter to throw, so the host retries it.
   */
  nextMessage?: 'rewrite' | 'send'
}

export interface LifecycleDeps {
  table: LifecycleTable
  /**
   * Rewrites this message's text and visibility in one call (updateMessage).
   * Resolves false when the message is no longer ours: it became visible
   * again and another receive holds it now (404, pop receipt mismatch).
   */
  requeue: (text: string, visibilitySeconds: number) => Promise<boolean>
  /** Deletes this message; false when it is no longer ours (see `requeue`). With `nextMessage: 'send'`, the host deletes it: a no-op. */
  remove: () => Promise<boolean>
  /** Sends `text` to the poison queue. */
  poison: (text: string) => Promise<void>
  now: () => Date
  /** Parent logger; each message logs through a child bound to its id and dequeue count. */
  log: Logger
  rules: LifecycleRules
}

/** `lost`: the step's effect is done but the message had meanwhile been received again elsewhere. */
export type Outcome =
  | { kind: 'activated', inserted: boolean, lagMs: number, visibilitySeconds: number, lost: boolean }
  /** `lateMs`: how long after expiresAt the row was deleted (or found gone). */
  | { kind: 'expired', result: 'deleted' | 'absent' | 'newer', lateMs: number, lost: boolean }
  | { kind: 'requeued', visibilitySeconds: number, lost: boolean }
  | { kind: 'dropped', reason: 'late', lost: boolean }
  /** `cause`: the reason's kind, a bounded set (metrics label it); `reason` says it in words. */
  | { kind: 'poisoned', cause: PoisonCause, reason: string }
  /** Handling failed; the message comes back after `retryInSeconds` (or the visibility timeout). */
  | { kind: 'failed', attempt: number, retryInSeconds: number | undefined, error: unknown }

export type OutcomeKind = Outcome['kind']

/** Why a message went to the poison queue: nobody can read it, no api could have sent it, or its phase kept failing. */
export type PoisonCause = 'unreadable' | 'implausible' | 'exhausted'

/** Azure's limit: visibility up to 7 days. */
const MAX_VISIBILITY_SECONDS = 7 * 24 * 3600

/**
 * The poison rule. Azure's dequeueCount counts receives, not failures, and a
 * healthy message is received once per phase: once as an activate, once as
 * an expire, and once more for each early expire put back. So whenever the
 * worker rewrites a message because a phase succeeded, it stores that
 * receive's dequeueCount in the envelope (`receivesBefore`), and
 *
 *     attempt = dequeueCount − receivesBefore
 *
 * counts only the receives of the current phase: 1 on a healthy delivery, +1
 * for each failure, crash or visibility timeout since the last success. The
 * message is poisoned when attempt `maxDequeueCount` fails, or when attempt
 * `maxDequeueCount + 1` arrives (all earlier attempts died without a word,
 * e.g. the message crashes the worker). A healthy code is never poisoned:
 * every successful phase resets the count.
 */
export function attemptOf (received: ReceivedMessage, decoded: DecodedMessage): number {
  const mark = decoded.receivesBefore ?? 0
  // A mark is always below the current count (it was written on an earlier receive): one that is not was forged.
  const before = mark < received.dequeueCount ? mark : 0
  return Math.max(1, received.dequeueCount - before)
}

/**
 * How far the api's clock (which stamps issuedAt and expiresAt) and the
 * worker's may disagree before a message is judged implausible.
 */
export const CLOCK_SKEW_SECONDS = 30

/** Why an activate could not have come from an api with this TTL, or undefined when it could. */
export function implausibility (message: CodeMessage, now: Date, codeTtlSeconds: number): string | undefined {
  if (message.phase !== 'activate') return undefined
  const lifeSeconds = (message.expiresAt.getTime() - message.issuedAt.getTime()) / 1000
  if (lifeSeconds > codeTtlSeconds + CLOCK_SKEW_SECONDS) {
    return `expiresAt - issuedAt is ${Math.round(lifeSeconds)} s, more than CODE_TTL_SECONDS (${codeTtlSeconds}) + ${CLOCK_SKEW_SECONDS} s of clock skew`
  }
  const aheadSeconds = (message.issuedAt.getTime() - now.getTime()) / 1000
  if (aheadSeconds > CLOCK_SKEW_SECONDS) {
    return `issuedAt is ${Math.round(aheadSeconds)} s in the future, more than ${CLOCK_SKEW_SECONDS} s of clock skew`
  }
  return undefined
}

/** Wait before try `attempt + 1`: 1, 2, 4 … seconds, at most `maxSeconds`. */
export function retryDelaySeconds (attempt: number, maxSeconds: number): number {
  return Math.max(1, Math.min(maxSeconds, 2 ** Math.max(0, attempt - 1)))
}

/** Seconds until `at`, rounded up so an expire never arrives early by a fraction; within Azure's limits. */
export function secondsUntil (at: Date, now: Date): number {
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(1, Math.ceil((at.getTime() - now.getTime()) / 1000)))
}

const errorText = (err: unknown): string => err instanceof Error ? err.message : String(err)

/**
 * The `receivesBefore` mark for the next phase's message: this receive's
 * count when the message itself is rewritten, 0 for a new message (its
 * dequeueCount starts again at 1).
 */
function markFor (received: ReceivedMessage, rules: LifecycleRules): number {
  return rules.nextMessage === 'send' ? 0 : received.dequeueCount
}

/**
 * Handles one received message to the end: on return, the message has been
 * rewritten, deleted, poisoned, or left to come back. Never throws: a storage
 * failure is an outcome (`failed`), and the message reappears.
 */
export async function handleMessage (received: ReceivedMessage, deps: LifecycleDeps): Promise<Outcome> {
  const log = deps.log.child({ messageId: received.messageId, dequeueCount: received.dequeueCount })
  const ctx: Context = { received, deps, log }
  let decoded: DecodedMessage
  try {
    decoded = decodeMessage(received.messageText, deps.rules.codeTtlSeconds, deps.rules.hashCode)
  } catch (err) {
    // Deterministic: every retry would fail the same way.
    return await traced(received, undefined, async () => await poison(ctx, 'unreadable', `unreadable message: ${errorText(err)}`, undefined))
  }
  return await traced(received, decoded.message, async () => await handleDecoded(ctx, decoded))
}

/**
 * Runs one message's handling in a span: an activate as a child of the span
 * that sent it, an expire (minutes later) in a trace of its own linked to
 * it, a message without trace context (the sample's, an unreadable one) in a
 * new trace. Attributes name the message, never its code.
 */
async function traced (received: ReceivedMessage, message: CodeMessage | undefined, handle: () => Promise<Outcome>): Promise<Outcome> {
  const phase = message?.phase ?? 'unreadable'
  const link = phase === 'expire' ? linkTo(message?.trace) : undefined
  const parent = phase === 'activate' ? contextFrom(message?.trace) : contextFrom(undefined)
  const attributes: Attributes = {
    'messaging.system': 'azure_queue_storage',
    'messaging.operation.type': 'process',
    'messaging.message.id': received.messageId,
    'codegate.dequeue_count': received.dequeueCount
  }
  return await tracer().startActiveSpan(`codegate.${phase}`, { kind: SpanKind.CONSUMER, attributes, ...(link !== undefined ? { links: [link] } : {}) }, parent, async (span) => {
    try {
      const outcome = await handle()
      span.setAttribute('codegate.outcome', outcome.kind)
      if (outcome.kind === 'poisoned') span.setAttribute('codegate.poison_cause', outcome.cause)
      if (outcome.kind === 'failed' || outcome.kind === 'poisoned') span.setStatus({ code: SpanStatusCode.ERROR })
      return outcome
    } finally {
      span.end()
    }
  })
}

async function handleDecoded (ctx: Context, decoded: DecodedMessage): Promise<Outcome> {
  const { received, deps } = ctx
  const { message } = decoded
  const implausible = implausibility(message, deps.now(), deps.rules.codeTtlSeconds)
  if (implausible !== undefined) return await poison(ctx, 'implausible', `implausible ${decoded.source} message: ${implausible}`, message)
  const attempt = attemptOf(received, decoded)
  const { maxDequeueCount } = deps.rules
  if (attempt > maxDequeueCount) {
    return await poison(ctx, 'exhausted', `${message.phase} did not finish in ${maxDequeueCount} tries (the worker stopped or timed out each time)`, message)
  }
  try {
    return message.phase === 'activate'
      ? await activate(ctx, message, decoded.source)
      : await expire(ctx, message)
  } catch (err) {
    if (attempt >= maxDequeueCount) {
      return await poison(ctx, 'exhausted', `${message.phase} failed ${attempt} times; last error: ${errorText(err)}`, message)
    }
    return await release(ctx, message, attempt, err)
  }
}

interface Context {
  received: ReceivedMessage
  deps: LifecycleDeps
  log: Logger
}

async function activate ({ received, deps, log }: Context, message: CodeMessage, source: MessageSource): Promise<Outcome> {
  const now = deps.now()
  const codeId = codeIdOf(message.codeHash)
  if (now.getTime() >= message.expiresAt.getTime()) {
    // A dead code must not become valid. A row an earlier try inserted before
    // it crashed is cleaned up (deleteExpired leaves a newer issue alone).
    const cleanup = await deps.table.deleteExpired(message.codeHash, message.expiresAt, now)
    const ours = await deps.remove()
    const lateMs = now.getTime() - message.expiresAt.getTime()
    log.info({ codeId, reason: 'late', lateMs, ...(cleanup.outcome === 'deleted' ? { leftoverRowDeleted: true } : {}) }, 'code.dropped')
    return { kind: 'dropped', reason: 'late', lost: !ours }
  }
  const result = await deps.table.insert(message)
  // The row may be this very issue (a redelivered activate, possibly consumed
  // since) or, rarely, another issue of the same code string. Only this
  // issue's ETag may travel with the expire: with another's, expire would
  // delete a row it does not own.
  const sameIssue = result.inserted ||
    (result.row.expiresAt.getTime() === message.expiresAt.getTime() && result.row.issuedAt.getTime() === message.issuedAt.getTime())
  const etag = result.inserted ? result.etag : sameIssue ? result.row.etag : undefined
  const next: CodeMessage = { ...message, phase: 'expire' }
  delete next.etag
  if (etag !== undefined && etag !== '*') next.etag = etag
  // Hidden until expiry from now, after the insert: counted from the receive,
  // a slow insert (seconds, right after a storage outage) made the expire late by as much.
  const visibilitySeconds = secondsUntil(message.expiresAt, deps.now())
  const ours = await deps.requeue(encodeMessage(next, deps.rules.encoding, markFor(received, deps.rules)), visibilitySeconds)
  const lagMs = now.getTime() - message.issuedAt.getTime()
  const fields = { codeId, inserted: result.inserted, lagMs, visibilitySeconds, source, ...(ours ? {} : { lost: true }) }
  if (sameIssue) log.info(fields, 'code.activated')
  else log.warn({ ...fields, collision: true }, 'code.activated')
  return { kind: 'activated', inserted: result.inserted, lagMs, visibilitySeconds, lost: !ours }
}

async function expire ({ received, deps, log }: Context, message: CodeMessage): Promise<Outcome> {
  const now = deps.now()
  const codeId = codeIdOf(message.codeHash)
  const result = await deps.table.deleteExpired(message.codeHash, message.expiresAt, now, message.etag)
  if (result.outcome === 'early') {
    // Clocks disagree or the message came back early: hide it for the time left.
    const visibilitySeconds = secondsUntil(new Date(now.getTime() + result.msLeft), deps.now())
    const ours = await deps.requeue(encodeMessage(message, deps.rules.encoding, markFor(received, deps.rules)), visibilitySeconds)
    log.info({ codeId, msLeft: result.msLeft, visibilitySeconds, ...(ours ? {} : { lost: true }) }, 'code.requeued')
    return { kind: 'requeued', visibilitySeconds, lost: !ours }
  }
  const ours = await deps.remove()
  const lateMs = now.getTime() - message.expiresAt.getTime()
  log.info({ codeId, result: result.outcome, lateMs, ...(ours ? {} : { lost: true }) }, 'code.expired')
  return { kind: 'expired', result: result.outcome, lateMs, lost: !ours }
}

/** After a failure: show the message again after a growing delay, text unchanged (so the try counts). */
async function release ({ received, deps, log }: Context, message: CodeMessage, attempt: number, err: unknown): Promise<Outcome> {
  const retryInSeconds = retryDelaySeconds(attempt, deps.rules.maxRetryDelaySeconds)
  if (deps.rules.nextMessage === 'send') {
    // The host makes the message visible again after its own visibilityTimeout.
    log.warn({ err, codeId: codeIdOf(message.codeHash), phase: message.phase, attempt }, 'message.failed')
    return { kind: 'failed', attempt, retryInSeconds: undefined, error: err }
  }
  log.warn({ err, codeId: codeIdOf(message.codeHash), phase: message.phase, attempt, retryInSeconds }, 'message.failed')
  try {
    // Same text, so the failed try counts toward the poison rule.
    await deps.requeue(received.messageText, retryInSeconds)
  } catch (releaseErr) {
    // It comes back after the processing visibility timeout instead.
    log.debug({ err: releaseErr }, 'message.release.failed')
    return { kind: 'failed', attempt, retryInSeconds: undefined, error: err }
  }
  return { kind: 'failed', attempt, retryInSeconds, error: err }
}

async function poison ({ received, deps, log }: Context, cause: PoisonCause, why: string, message: CodeMessage | undefined): Promise<Outcome> {
  // A reason may quote the message (a bad version field), and reasons are logged and stored.
  const reason = withoutCodes(why)
  const codeId = message !== undefined ? codeIdOf(message.codeHash) : undefined
  try {
    // Poison first: if the delete never happens, the original comes back and
    // is poisoned again (a duplicate in the poison queue, never a loss).
    await deps.poison(encodePoison(received, reason, deps.rules.encoding, deps.rules.hashCode))
    await deps.remove()
  } catch (err) {
    log.error({ err, codeId, reason }, 'message.poison.failed')
    return { kind: 'failed', attempt: received.dequeueCount, retryInSeconds: undefined, error: err }
  }
  log.error({ codeId, reason }, 'message.poisoned')
  return { kind: 'poisoned', cause, reason }
}
