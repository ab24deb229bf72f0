/** The config value and the clock, for every plugin and route. Tests pass their own of both. */
import fp from 'fastify-plugin'
import type { ApiConfig } from '../../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: ApiConfig
    /** The time every code, expiry and sign-in check uses. */
    now: () => Date
  }
}

export interface ConfigPluginOptions {
  config: ApiConfig
  now: () => Date
}

export default fp<ConfigPluginOptions>(async (fastify, opts) => {
  fastify.decorate('config', opts.config)
  fastify.decorate('now', opts.now)
}, { name: 'config', fastify: '5.x' })
