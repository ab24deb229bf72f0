/** The code issuer: third-party number (key from the vault) → code → activate message. */
import fp from 'fastify-plugin'
import { Bulkhead } from '../../bulkhead.js'
import type { CodeIssuer } from '../../code-issuer.js'
import { createCodeIssuer, currentHasher } from '../../compose.js'

declare module 'fastify' {
  interface FastifyInstance {
    codeIssuer: CodeIssuer
    /** The bound on codes being issued at once (OUTGOING_MAX_IN_FLIGHT, OUTGOING_MAX_WAITING). */
    outgoing: Bulkhead
  }
}

export default fp(async (fastify) => {
  const { config, secrets, queues, ensureStorage, now } = fastify
  const { maxInFlight, maxWaiting, maxWaitMs, retryAfterSeconds } = config.overload
  const outgoing = new Bulkhead('codes being issued', {
    maxInFlight,
    maxWaiting,
    retryAfterSeconds,
    maxWaitMs,
    onRefused: () => { fastify.metrics.shed('getcode', 'outgoing') }
  })
  fastify.decorate('outgoing', outgoing)
  fastify.decorate('codeIssuer', createCodeIssuer({
    config,
    secrets,
    hasher: currentHasher(fastify.codeHashKeys),
    queues,
    ensureStorage,
    now,
    limit: outgoing,
    observe: { thirdParty: fastify.metrics.thirdParty, issuer: fastify.metrics.issuer }
  }))
}, { name: 'code-issuer', fastify: '5.x', dependencies: ['config', 'storage', 'vault', 'metrics'] })
