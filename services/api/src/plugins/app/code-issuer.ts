/** The code issuer: third-party number (key from the vault) → code → activate message. */
import fp from 'fastify-plugin'
import { Bulkhead } from '../../bulkhead.js'
import { CodeIssuer } from '../../code-issuer.js'
import { ThirdPartyNumbers } from '../../third-party.js'

declare module 'fastify' {
  interface FastifyInstance {
    codeIssuer: CodeIssuer
    /** The bound on codes being issued at once (OUTGOING_MAX_IN_FLIGHT, OUTGOING_MAX_WAITING). */
    outgoing: Bulkhead
  }
}

export default fp(async (fastify) => {
  const { config } = fastify
  const { maxInFlight, maxWaiting, maxWaitMs, retryAfterSeconds } = config.overload
  const outgoing = new Bulkhead('codes being issued', maxInFlight, maxWaiting, retryAfterSeconds, maxWaitMs)
  fastify.decorate('outgoing', outgoing)
  const numbers = new ThirdPartyNumbers({
    endpoint: config.thirdPartyEndpoint,
    timeoutMs: config.thirdPartyTimeoutMs,
    keys: fastify.secrets,
    observe: fastify.metrics.thirdParty
  })
  fastify.decorate('codeIssuer', new CodeIssuer({
    numbers,
    // Not loaded yet: try the vault now (single flight), as getcode does for the third-party key.
    hasher: async () => fastify.codeHashKeys.loaded ? fastify.codeHashKeys.hasher : await fastify.codeHashKeys.load(),
    shards: fastify.queues.shards,
    ensureQueue: fastify.ensureStorage,
    ttlSeconds: config.codeTtlSeconds,
    encoding: config.messageEncoding,
    now: fastify.now,
    limit: outgoing,
    observe: fastify.metrics.issuer
  }))
}, { name: 'code-issuer', fastify: '5.x', dependencies: ['config', 'storage', 'vault', 'metrics'] })
