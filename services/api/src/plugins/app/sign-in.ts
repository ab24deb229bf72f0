/**
 * The sign-in service and its limits (built in compose.ts, as the Functions
 * app builds them): in the limits table (every replica shares them; lapsed
 * rows are swept now and then) or, with SIGNIN_LIMITS_STORE=memory, in this
 * process only.
 */
import type { TokenCredential } from '@azure/core-auth'
import fp from 'fastify-plugin'
import { createSignInService, currentHasher } from '../../compose.js'
import type { SignInLimits } from '../../limits.js'
import type { SignInService } from '../../sign-in.js'

declare module 'fastify' {
  interface FastifyInstance {
    signIn: SignInService
    signInLimits: SignInLimits
  }
}

export interface SignInPluginOptions {
  credential?: TokenCredential
  /** How often lapsed limit rows are deleted; default 5 minutes. */
  sweepEveryMs?: number
}

const SWEEP_EVERY_MS = 5 * 60_000

export default fp<SignInPluginOptions>(async (fastify, opts) => {
  const { config, now } = fastify
  const { signIn, limits, limitsTable: table } = createSignInService({
    config,
    ...(opts.credential !== undefined ? { credential: opts.credential } : {}),
    codesTable: fastify.codesTable,
    hasher: currentHasher(fastify.codeHashKeys),
    now
  })
  if (table !== undefined) {
    fastify.addHook('onReady', async () => {
      // Created on first use too; failing here only costs the first sign-in a moment.
      try {
        await table.prepare()
      } catch (err) {
        fastify.log.warn({ err, event: 'storage.unavailable', table: config.signinLimitsTableName }, 'limits table unreachable at start; it is created on first use')
      }
    })
    const everyMs = opts.sweepEveryMs ?? SWEEP_EVERY_MS
    let sweeping: Promise<void> | undefined
    const timer = setInterval(() => {
      sweeping ??= table.sweep()
        .then((deleted) => { if (deleted > 0) fastify.log.info({ event: 'limits.swept', deleted }, 'lapsed limit rows deleted') })
        .catch((err: unknown) => { fastify.log.warn({ err, event: 'limits.sweep.failed' }, 'could not sweep the limits table') })
        .finally(() => { sweeping = undefined })
    }, everyMs * (0.75 + Math.random() / 2))
    timer.unref()
    fastify.addHook('onClose', async () => {
      clearInterval(timer)
      await sweeping
    })
  }
  fastify.decorate('signInLimits', limits)
  fastify.decorate('signIn', signIn)
}, { name: 'sign-in', fastify: '5.x', dependencies: ['config', 'storage', 'vault'] })
