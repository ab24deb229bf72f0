/**
 * getcode and sign-in as plain functions: a request's values in, the answer
 * (status, headers, body) out, with the log lines. The Fastify routes and the
 * Azure Functions HTTP triggers both call these, so the wire contract and
 * what is logged about it are written once; each host only parses the
 * request and writes the answer.
 */
import { formatTimestamp } from '@codegate/shared/time'
import type { CodeIssuer } from './code-issuer.js'
import { HttpError, toHttpError } from './errors.js'
import { maskSubject } from './log-safety.js'
import type { ApprovedBody, HttpErrorBody, IssuedCodeBody } from './schemas.js'
import type { SignInRequest, SignInService } from './sign-in.js'

/** An answer; the routes' own are typed by the route schemas' statuses and bodies. */
export interface Answer<Status extends number = number, Body = unknown> {
  status: Status
  headers: Record<string, string>
  body: Body
}

/** The part of a pino (or Fastify) logger the operations write to. */
export interface AnswerLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
  debug: (obj: object, msg: string) => void
}

const NO_STORE = { 'cache-control': 'no-store' }

/** GET /api/v1/getcode, its query already validated. */
export async function getCodeAnswer (issuer: Pick<CodeIssuer, 'issue'>, subject: string | undefined, log: AnswerLog): Promise<Answer<200, IssuedCodeBody>> {
  const code = await issuer.issue(subject)
  log.info({
    event: 'code.issued',
    codeId: code.codeId,
    subject: maskSubject(subject),
    expiresAt: code.expiresAt.toISOString(),
    messageId: code.messageId
  }, 'code issued')
  return { status: 200, headers: NO_STORE, body: { code: code.code, timestamp: formatTimestamp(code.issuedAt), expiresAt: code.expiresAt.toISOString() } }
}

/** POST /api/v1/signin, its body already validated. */
export async function signInAnswer (service: Pick<SignInService, 'signIn'>, request: SignInRequest, log: AnswerLog, observe?: (status: 'approved' | 'refused' | 'locked') => void): Promise<Answer<200, ApprovedBody> | Answer<401 | 429, HttpErrorBody>> {
  const outcome = await service.signIn(request)
  observe?.(outcome.status)
  const fields = { codeId: outcome.codeId, subject: maskSubject(request.subject) }
  switch (outcome.status) {
    case 'approved':
      log.info({ event: 'signin.approved', ...fields }, 'sign-in approved')
      return { status: 200, headers: NO_STORE, body: { status: 'approved' } }
    case 'refused':
      log.info({ event: 'signin.refused', reason: outcome.reason, ...fields }, 'sign-in refused')
      return { status: 401, headers: NO_STORE, body: { error: 'invalid_code', message: 'The code is not valid. Get a new one and try again.' } }
    case 'locked':
      log.warn({ event: 'signin.locked', reason: outcome.reason, retryAfterSeconds: outcome.retryAfterSeconds, ...fields }, 'sign-in refused: locked')
      return {
        status: 429,
        headers: { ...NO_STORE, 'retry-after': String(outcome.retryAfterSeconds) },
        body: { error: 'locked', message: `Too many failed sign-ins; try again in ${outcome.retryAfterSeconds} seconds.` }
      }
  }
}

/**
 * The answer to anything thrown while handling a request: a domain error or
 * an HttpError as its status and stable code (the cause logged here and
 * nowhere else), anything else as a 500 that says nothing about it.
 */
export function errorAnswer (err: unknown, log: AnswerLog): Answer {
  const answer = toHttpError(err)
  if (answer === undefined) {
    log.error({ err }, 'unexpected error')
    return { status: 500, headers: {}, body: { error: 'internal', message: 'Something went wrong on our side; try again.' } }
  }
  if (answer.code === 'overloaded') {
    // One line per shed request would add to the load being shed; the cause is in the counters and overload.* lines.
    log.debug({ event: 'request.shed', error: answer.code }, answer.message)
  } else if (answer.statusCode >= 500) {
    // The cause (upstream status, storage error) is logged here and nowhere else.
    log.warn({ err, event: 'request.failed', error: answer.code }, answer.message)
  } else {
    log.info({ event: 'request.rejected', error: answer.code, statusCode: answer.statusCode }, 'request rejected')
  }
  return { status: answer.statusCode, headers: answer.headers, body: { error: answer.code, message: answer.message } }
}

export { HttpError }
