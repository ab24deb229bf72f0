/** The sign-in service: per-subject (or per-address) lockout, then the single-use table check. */
import fp from 'fastify-plugin'
import { Lockout } from '../../lockout.js'
import { SignInService } from '../../sign-in.js'

declare module 'fastify' {
  interface FastifyInstance {
    signIn: SignInService
  }
}

export default fp(async (fastify) => {
  const { config } = fastify
  const lockout = new Lockout({ maxFailures: config.signinMaxFailures, lockoutSeconds: config.signinLockoutSeconds })
  fastify.decorate('signIn', new SignInService({ table: fastify.codesTable, lockout, now: fastify.now }))
}, { name: 'sign-in', fastify: '5.x', dependencies: ['config', 'storage'] })
