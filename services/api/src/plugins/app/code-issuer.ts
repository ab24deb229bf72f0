/** The code issuer: third-party number (key from the vault) → code → activate message. */
import fp from 'fastify-plugin'
import type { CodeIssuer } from '../../code-issuer.js'
import { createCodeIssuer } from '../../compose.js'

declare module 'fastify' {
  interface FastifyInstance {
    codeIssuer: CodeIssuer
  }
}

export default fp(async (fastify) => {
  const { config, secrets, queues, ensureStorage, now } = fastify
  fastify.decorate('codeIssuer', createCodeIssuer({ config, secrets, queues, ensureStorage, now }))
}, { name: 'code-issuer', fastify: '5.x', dependencies: ['config', 'storage', 'vault'] })
