/**
 * Prometheus metrics (metrics.ts): the registry the domain services report
 * to, and the count of sign-ins the rate limiter turned away. Served by
 * routes/metrics.ts when METRICS_ENABLED.
 */
import fp from 'fastify-plugin'
import { ApiMetrics } from '../../metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ApiMetrics
  }
}

export default fp(async (fastify) => {
  fastify.decorate('metrics', new ApiMetrics(() => fastify.secrets.loaded))
}, { name: 'metrics', fastify: '5.x', dependencies: ['vault'] })
