/**
 * Caller authentication. A route opts in with `config: { auth: 'issue' }` or
 * `{ auth: 'verify' }`; it then needs `Authorization: Bearer <access token>`
 * whose `roles` hold AUTH_ISSUE_ROLE or AUTH_VERIFY_ROLE. Routes without it
 * (home, probes, docs) stay open. With AUTH_MODE=none nothing is checked and
 * every start says so.
 *
 * Answers (RFC 6750 §3): no bearer token → 401 with a bare `Bearer`
 * challenge; a bad one → 401 `error="invalid_token"`; a good one without the
 * role → 403 `error="insufficient_scope"`; issuer unreachable → 503.
 */
import { readFileSync } from 'node:fs'
import type { FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError } from '../../errors.js'
import { errorRef } from '../../schemas.js'
import { IssuerUnavailableError, TokenRejectedError, TokenVerifier, type Caller, type VerifierOptions } from '../../token-verifier.js'

/** What a route needs its caller to be allowed to do. */
export type Permission = 'issue' | 'verify'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission a caller's token must grant; unset: the route is open. */
    auth?: Permission
  }
  interface FastifyRequest {
    /** The authenticated caller; null on open routes and with AUTH_MODE=none. */
    caller: Caller | null
  }
  interface FastifyInstance {
    /** The token checker; undefined with AUTH_MODE=none. */
    tokenVerifier: TokenVerifier | undefined
  }
}

export interface CallerAuthPluginOptions extends VerifierOptions {
  /** How long start waits for the issuer's keys before going on without them. */
  warmUpWaitMs?: number
}

/** The OpenAPI security scheme routes that need a token refer to. */
export const SECURITY_SCHEME = 'entraBearer'

// token68 (RFC 7235 §2.1), bounded: Entra ID tokens are a few KB.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]{1,8192}=*) *$/i

/** The token of an Authorization header, undefined when there is no bearer credential at all, null when it is not token68. */
export function bearerToken (header: string | undefined): string | undefined | null {
  // Another scheme, or the word Bearer alone, carries no bearer credential.
  if (header === undefined || !/^Bearer\s+\S/i.test(header)) return undefined
  return BEARER.exec(header)?.[1] ?? null
}

const quoted = (text: string): string => `"${text.replace(/["\\]/g, '')}"`

export default fp<CallerAuthPluginOptions>(async (fastify, opts) => {
  const { callerAuth } = fastify.config
  fastify.decorateRequest('caller', null)

  if (callerAuth.mode === 'none') {
    fastify.decorate('tokenVerifier', undefined)
    // Every start: an open getcode lets anyone mint a code for any subject.
    fastify.log.warn({ event: 'auth.disabled' }, 'AUTH_MODE=none: getcode and sign-in accept calls from anyone who can reach the api')
    return
  }

  const ca = callerAuth.caFile !== undefined ? readFileSync(callerAuth.caFile) : undefined
  const verifier = new TokenVerifier(callerAuth, ca, opts)
  fastify.decorate('tokenVerifier', verifier)
  const roles: Record<Permission, string> = { issue: callerAuth.issueRole, verify: callerAuth.verifyRole }

  const unauthorized = (error: 'missing_token' | 'invalid_token'): HttpError => new HttpError(401, error,
    error === 'missing_token'
      ? 'This endpoint needs an access token: send Authorization: Bearer <token>.'
      : 'The access token is not valid for this api (malformed, expired, not yet valid, or from another issuer or audience).',
    { headers: { 'www-authenticate': error === 'missing_token' ? 'Bearer' : 'Bearer error="invalid_token"' } })

  async function authenticate (request: FastifyRequest, permission: Permission): Promise<void> {
    const token = bearerToken(request.headers.authorization)
    if (token === undefined) throw unauthorized('missing_token')
    let caller: Caller
    try {
      if (token === null) throw new TokenRejectedError('not a bearer token')
      caller = await verifier.verify(token)
    } catch (err) {
      if (err instanceof TokenRejectedError) {
        request.log.info({ event: 'auth.rejected', reason: err.reason }, 'access token refused')
        throw unauthorized('invalid_token')
      }
      if (err instanceof IssuerUnavailableError) {
        throw new HttpError(503, 'auth_unavailable', 'Access tokens cannot be checked right now; try again shortly.', { cause: err })
      }
      throw err
    }
    request.caller = caller
    // Flat names: pino-pretty shows a `caller` field as a call site.
    request.log = request.log.child({ callerAppId: caller.appId, callerObjectId: caller.objectId })
    const role = roles[permission]
    if (!caller.roles.includes(role)) {
      request.log.info({ event: 'auth.forbidden', role }, 'caller lacks the role')
      throw new HttpError(403, 'insufficient_role', `The access token lacks the app role ${role}.`,
        { headers: { 'www-authenticate': `Bearer error="insufficient_scope", error_description=${quoted(`needs the app role ${role}`)}` } })
    }
  }

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const permission = route.config?.auth
    if (permission === undefined) return
    const hook: onRequestHookHandler = async (request) => { await authenticate(request, permission) }
    // After the route's own onRequest hooks (the rate limit), so floods are limited before any token work.
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    route.onRequest = [...existing, hook]
    if (route.schema !== undefined) {
      route.schema = {
        ...route.schema,
        security: [{ [SECURITY_SCHEME]: [] }],
        response: { 401: errorRef, 403: errorRef, 503: errorRef, ...(route.schema.response as Record<number, unknown> | undefined) }
      }
    }
  })

  fastify.addHook('onReady', async () => {
    // Never block start on the issuer: requests answer 503 until its keys load.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      verifier.warmUp().then(
        () => { fastify.log.info({ event: 'auth.ready', issuer: callerAuth.issuer }, 'issuer keys loaded') },
        (err: unknown) => { fastify.log.warn({ err, event: 'auth.issuer_unavailable', issuer: callerAuth.issuer }, 'could not load the issuer\'s keys; will retry on the first request') }
      ),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, opts.warmUpWaitMs ?? 3000) })
    ])
    clearTimeout(timer)
  })
}, { name: 'caller-auth', fastify: '5.x', dependencies: ['config'] })
