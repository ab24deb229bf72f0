/** The code issuer: third-party number (key from the vault) → code → activate message. */
import fp from 'fastify-plugin'
import { CodeIssuer } from '../../code-issuer.js'
import { ThirdPartyNumbers } from '../../third-party.js'

declare module 'fastify' {
  interface FastifyInstance {
    codeIssuer: CodeIssuer
  }
}

export default fp(async (fastify) => {
  const { config } = fastify
  const numbers = new ThirdPartyNumbers({
    endpoint: config.thirdPartyEndpoint,
    timeoutMs: config.thirdPartyTimeoutMs,
    keys: fastify.secrets
  })
  fastify.decorate('codeIssuer', new CodeIssuer({
    numbers,
    shards: fastify.queues.shards,
    ensureQueue: fastify.ensureStorage,
    ttlSeconds: config.codeTtlSeconds,
    encoding: config.messageEncoding,
    now: fastify.now
  }))
}, { name: 'code-issuer', fastify: '5.x', dependencies: ['config', 'storage', 'vault'] })
