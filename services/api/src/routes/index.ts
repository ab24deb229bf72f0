import type { FastifyPluginAsync } from 'fastify'
import v1 from './api/v1/index.js'
import health from './health.js'
import home from './home.js'
import metrics from './metrics.js'

const routes: FastifyPluginAsync = async (fastify) => {
  await fastify.register(home)
  await fastify.register(health)
  await fastify.register(metrics)
  await fastify.register(v1, { prefix: '/api/v1' })
}

export default routes
