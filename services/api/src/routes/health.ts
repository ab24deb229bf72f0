/** Probes: /healthz says the process answers; /readyz says it can do its work. */
import type { FastifyPluginAsync } from 'fastify'

const check = {
  type: 'object',
  required: ['ok'],
  properties: { ok: { type: 'boolean' }, reason: { type: 'string' } }
} as const

const readiness = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    checks: {
      type: 'object',
      required: ['queue', 'table', 'vault', 'pressure'],
      properties: { queue: check, table: check, vault: check, pressure: check }
    }
  }
} as const

/**
 * Probes come every few seconds from every replica's platform: logging them
 * would be most of the log volume (and cost) of an idle deployment. Only a
 * warning or worse from these routes is logged.
 */
const PROBE_LOG_LEVEL = 'warn'

const health: FastifyPluginAsync = async (fastify) => {
  fastify.get('/healthz', {
    logLevel: PROBE_LOG_LEVEL,
    schema: {
      tags: ['health'],
      summary: 'Liveness: the process answers',
      response: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } }
    }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/readyz', {
    logLevel: PROBE_LOG_LEVEL,
    schema: {
      tags: ['health'],
      summary: 'Readiness: queue and table reachable, third-party key loaded, not shedding load',
      response: { 200: readiness, 503: readiness }
    }
  }, async (_request, reply) => {
    const { ready, checks } = await fastify.readiness()
    return await reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks })
  })
}

export default health
