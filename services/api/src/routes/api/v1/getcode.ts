/** GET /api/v1/getcode: a new code, answered only once its activate message is on the queue. */
import type { FastifyPluginAsync } from 'fastify'
import { getCodeAnswer } from '../../../operations.js'
import { codeSchema, errors, getCodeQuerySchema } from '../../../schemas.js'

interface GetCode {
  Querystring: { subject?: string }
}

const issued = {
  type: 'object',
  required: ['code', 'timestamp', 'expiresAt'],
  properties: {
    code: codeSchema,
    timestamp: { type: 'string', description: 'When the code was issued: UTC, YYYY-MM-DD HH:MM:SS.ffffff (the original app\'s format)' },
    expiresAt: { type: 'string', format: 'date-time', description: 'When the code stops being accepted' }
  }
} as const

const getcode: FastifyPluginAsync = async (fastify) => {
  fastify.get<GetCode>('/getcode', {
    // Issuing a code has effects (a paid third-party call, a queued message):
    // no HEAD twin with a rate-limit budget of its own.
    exposeHeadRoute: false,
    schema: {
      tags: ['codes'],
      summary: 'Issue a sign-in code',
      description: 'Gets a number from the third-party API, builds a code around it and queues its activation. ' +
        '502 when the third party fails, 504 when it is too slow, 503 when the vault or the queue is unavailable, ' +
        'or 503 overloaded with Retry-After when the api is shedding load. ' +
        'Nothing is queued unless the answer is 200.',
      querystring: getCodeQuerySchema,
      response: { 200: issued, ...errors(400, 429, 502, 503, 504) }
    },
    // The security plugin's limit (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS), counted for this route alone.
    config: { auth: 'issue', rateLimit: {} }
  }, async (request, reply) => {
    const answer = await getCodeAnswer(fastify.codeIssuer, request.query.subject, request.log)
    return await reply.code(answer.status).headers(answer.headers).send(answer.body)
  })
}

export default getcode
