/**
 * The sign-in service and its limits: in the limits table (every replica
 * shares them; lapsed rows are swept now and then) or, with
 * SIGNIN_LIMITS_STORE=memory, in this process only.
 */
import type { TokenCredential } from '@azure/core-auth'
import fp from 'fastify-plugin'
import { createTableClient } from '@codegate/shared/clients'
import { MemoryLimitStore, SignInLimits, type LimitRules, type LimitStore } from '../../limits.js'
import { TableLimitStore } from '../../limits-table.js'
import { SignInService } from '../../sign-in.js'

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
  const rules: LimitRules = {
    maxFailures: config.signinMaxFailures,
    subjectMaxFailures: config.signinSubjectMaxFailures,
    lockoutSeconds: config.signinLockoutSeconds,
    // Longer than a sign-in can take (its deadline, below).
    holdMs: 2 * config.storageTimeoutMs + 1000
  }
  let store: LimitStore
  if (config.signinLimitsStore === 'memory') {
    store = new MemoryLimitStore(rules, now)
  } else {
    const table = new TableLimitStore(createTableClient(config, opts.credential, config.signinLimitsTableName), rules, now)
    store = table
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
  const limits = new SignInLimits(store, rules, now)
  fastify.decorate('signInLimits', limits)
  // Each table call is bounded by STORAGE_TIMEOUT_MS (so a hung table is a 503
  // after about that long); the whole sign-in, up to five calls, by twice it.
  fastify.decorate('signIn', new SignInService({ table: fastify.codesTable, hasher: async () => fastify.codeHashKeys.loaded ? fastify.codeHashKeys.hasher : await fastify.codeHashKeys.load(), limits, now, timeoutMs: 2 * config.storageTimeoutMs }))
}, { name: 'sign-in', fastify: '5.x', dependencies: ['config', 'storage', 'vault'] })
