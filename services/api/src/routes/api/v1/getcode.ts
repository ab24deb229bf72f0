/** GET /api/v1/getcode: a new code, answered only once its activate message is on the queue. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { getCodeAnswer } from '../../../operations.js'
import { errors, getCodeQuerySchema, issuedCodeSchema } from '../../../schemas.js'

const getcode: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/getcode', {
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
      response: { 200: issuedCodeSchema, ...errors(400, 429, 502, 503, 504) }
    },
    // The security plugin's limit (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS), counted for this route alone.
    config: { auth: 'issue', rateLimit: {} },
    // While every slot for issuing codes is taken and the line is full, the
    // handler would refuse anyway: refuse first, before the rate limiter and
    // the caller's token check, so that saying no costs next to nothing.
    onRequest: async () => { fastify.outgoing.refuseWhenFull() }
  }, async (request, reply) => {
    const answer = await getCodeAnswer(fastify.codeIssuer, request.query.subject, request.log)
    return await reply.code(answer.status).headers(answer.headers).send(answer.body)
  })
}

export default getcode
