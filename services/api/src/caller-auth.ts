/**
 * Caller authentication, free of any web framework: the Fastify plugin
 * (plugins/external/caller-auth.ts) and the Azure Functions HTTP triggers
 * (services/functions) both ask this module, so the two hostings answer a
 * caller the same way.
 *
 * Answers (RFC 6750 §3): no bearer token → 401 with a bare `Bearer`
 * challenge; a bad one → 401 `error="invalid_token"`; a good one without the
 * role → 403 `error="insufficient_scope"`; issuer unreachable → 503.
 * With AUTH_MODE=none nothing is checked and every start says so.
 */
import { readFileSync } from 'node:fs'
import type { CallerAuthConfig } from '@codegate/shared/config'
import { HttpError } from './errors.js'
import { IssuerUnavailableError, TokenRejectedError, TokenVerifier, type Caller, type VerifierOptions } from './token-verifier.js'

/** What a route needs its caller to be allowed to do. */
export type Permission = 'issue' | 'verify'

/** The part of a pino (or Fastify) logger authentication writes to. */
export interface AuthLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

// token68 (RFC 7235 §2.1), bounded: Entra ID tokens are a few KB.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]{1,8192}=*) *$/i

/** The token of an Authorization header, undefined when there is no bearer credential at all, null when it is not token68. */
export function bearerToken (header: string | undefined): string | undefined | null {
  // Another scheme, or the word Bearer alone, carries no bearer credential.
  if (header === undefined || !/^Bearer\s+\S/i.test(header)) return undefined
  return BEARER.exec(header)?.[1] ?? null
}

/** The log fields that name a caller. Flat names: pino-pretty shows a `caller` field as a call site. */
export function callerLogFields (caller: Caller): { callerAppId: string | undefined, callerObjectId: string | undefined } {
  return { callerAppId: caller.appId, callerObjectId: caller.objectId }
}

const quoted = (text: string): string => `"${text.replace(/["\\]/g, '')}"`

function unauthorized (error: 'missing_token' | 'invalid_token'): HttpError {
  return new HttpError(401, error,
    error === 'missing_token'
      ? 'This endpoint needs an access token: send Authorization: Bearer <token>.'
      : 'The access token is not valid for this api (malformed, expired, not yet valid, or from another issuer or audience).',
    { headers: { 'www-authenticate': error === 'missing_token' ? 'Bearer' : 'Bearer error="invalid_token"' } })
}

export interface CallerAuth {
  /** The token checker; undefined with AUTH_MODE=none. */
  verifier: TokenVerifier | undefined
  /**
   * The caller an Authorization header stands for, allowed `permission`;
   * null with AUTH_MODE=none. Throws an HttpError (401, 403, 503) otherwise.
   * `identified` hears of a verified caller before its role is checked, so a
   * request's log can name the caller in its 403 lines too.
   */
  authenticate: (authorization: string | undefined, permission: Permission, log: AuthLog, identified?: (caller: Caller) => void) => Promise<Caller | null>
  /** Reads the issuer's discovery and keys now, so the first caller does not wait and a wrong issuer shows at start; logs the outcome, never throws. */
  warmUp: (log: AuthLog) => Promise<void>
}

/**
 * The authenticator of a config. With AUTH_MODE=none it warns on `log` now:
 * create it once per start, so every start says so.
 */
export function createCallerAuth (config: CallerAuthConfig, log: AuthLog, options: VerifierOptions = {}): CallerAuth {
  if (config.mode === 'none') {
    // An open getcode lets anyone mint a code for any subject.
    log.warn({ event: 'auth.disabled' }, 'AUTH_MODE=none: getcode and sign-in accept calls from anyone who can reach the api')
    return { verifier: undefined, authenticate: async () => null, warmUp: async () => {} }
  }
  const ca = config.caFile !== undefined ? readFileSync(config.caFile) : undefined
  const verifier = new TokenVerifier(config, ca, options)
  const roles: Record<Permission, string> = { issue: config.issueRole, verify: config.verifyRole }

  return {
    verifier,
    async warmUp (log) {
      try {
        await verifier.warmUp()
        log.info({ event: 'auth.ready', issuer: config.issuer }, 'issuer keys loaded')
      } catch (err) {
        // Requests answer 503 auth_unavailable until the keys load; each one tries again.
        log.warn({ err, event: 'auth.issuer_unavailable', issuer: config.issuer }, 'could not load the issuer\'s keys; will retry on the first request')
      }
    },
    async authenticate (authorization, permission, log, identified) {
      const token = bearerToken(authorization)
      if (token === undefined) throw unauthorized('missing_token')
      let caller: Caller
      try {
        if (token === null) throw new TokenRejectedError('not a bearer token')
        caller = await verifier.verify(token)
      } catch (err) {
        if (err instanceof TokenRejectedError) {
          log.info({ event: 'auth.rejected', reason: err.reason }, 'access token refused')
          throw unauthorized('invalid_token')
        }
        if (err instanceof IssuerUnavailableError) {
          throw new HttpError(503, 'auth_unavailable', 'Access tokens cannot be checked right now; try again shortly.', { cause: err })
        }
        throw err
      }
      identified?.(caller)
      const role = roles[permission]
      if (!caller.roles.includes(role)) {
        log.info({ event: 'auth.forbidden', role, ...callerLogFields(caller) }, 'caller lacks the role')
        throw new HttpError(403, 'insufficient_role', `The access token lacks the app role ${role}.`,
          { headers: { 'www-authenticate': `Bearer error="insufficient_scope", error_description=${quoted(`needs the app role ${role}`)}` } })
      }
      return caller
    }
  }
}
