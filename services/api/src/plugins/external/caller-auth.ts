/**
 * Caller authentication. A route opts in with `config: { auth: 'issue' }` or
 * `{ auth: 'verify' }`; it then needs `Authorization: Bearer <access token>`
 * whose `roles` hold AUTH_ISSUE_ROLE or AUTH_VERIFY_ROLE. Routes without it
 * (home, probes, docs) stay open. With AUTH_MODE=none nothing is checked and
 * every start says so. The checks and answers are src/caller-auth.ts's,
 * shared with the Azure Functions HTTP triggers.
 */
import type { onRequestHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { withTimeout } from '@codegate/shared/race'
import { bearerToken, callerLogFields, createCallerAuth, type Permission } from '../../caller-auth.js'
import { errorRef } from '../../schemas.js'
import type { Caller, TokenVerifier, VerifierOptions } from '../../token-verifier.js'

export { bearerToken, type Permission }

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

export default fp<CallerAuthPluginOptions>(async (fastify, opts) => {
  const { callerAuth } = fastify.config
  fastify.decorateRequest('caller', null)
  const auth = createCallerAuth(callerAuth, fastify.log, opts)
  fastify.decorate('tokenVerifier', auth.verifier)
  if (callerAuth.mode === 'none') return

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const permission = route.config?.auth
    if (permission === undefined) return
    const hook: onRequestHookHandler = async (request) => {
      await auth.authenticate(request.headers.authorization, permission, request.log, (caller) => {
        request.caller = caller
        request.log = request.log.child(callerLogFields(caller))
      })
    }
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
    await withTimeout(auth.warmUp(fastify.log), opts.warmUpWaitMs ?? 3000, () => undefined)
  })
}, { name: 'caller-auth', fastify: '5.x', dependencies: ['config'] })
