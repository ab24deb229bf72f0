/** GET /metrics: Prometheus text, open like the probes (counts only; METRICS_ENABLED=false removes it). */
import type { FastifyPluginAsync } from 'fastify'

const metrics: FastifyPluginAsync = async (fastify) => {
  if (!fastify.config.metricsEnabled) return
  const { registry } = fastify.metrics
  fastify.get('/metrics', {
    // Scraped every few seconds: as with the probes, only warnings are logged.
    logLevel: 'warn',
    schema: { hide: true }
  }, async (_request, reply) => {
    const text = await registry.metrics()
    return await reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(text)
  })
}

export default metrics
