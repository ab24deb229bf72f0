/** The sign-in service: per-subject (or per-address) lockout, then the single-use table check. */
import fp from 'fastify-plugin'
import { createSignInService } from '../../compose.js'
import type { SignInService } from '../../sign-in.js'

declare module 'fastify' {
  interface FastifyInstance {
    signIn: SignInService
  }
}

export default fp(async (fastify) => {
  const { config, codesTable, now } = fastify
  fastify.decorate('signIn', createSignInService({ config, codesTable, now }))
}, { name: 'sign-in', fastify: '5.x', dependencies: ['config', 'storage'] })
