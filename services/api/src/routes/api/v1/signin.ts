/**
 * POST /api/v1/signin: redeems a code once. The body is checked against the
 * schema before anything touches the table; every refusal gets one answer.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { signInAnswer } from '../../../operations.js'
import { approvedSchema, errors, SIGNIN_BODY_LIMIT, signInBodySchema } from '../../../schemas.js'

export { SIGNIN_BODY_LIMIT }

const signin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/signin', {
    bodyLimit: SIGNIN_BODY_LIMIT,
    schema: {
      tags: ['codes'],
      summary: 'Sign in with a code (single use)',
      description: '401 invalid_code for a code that is unknown, expired, already used or issued for another subject. ' +
        '429 locked after too many failed sign-ins from this client address, or for this subject from this address; ' +
        'also while the address has as many sign-ins in flight as it has failures left. Retry-After says when to try again. ' +
        '503 when the table does not answer within the storage timeout.',
      body: signInBodySchema,
      response: {
        200: approvedSchema,
        ...errors(400, 401, 413, 415, 429, 503)
      }
    },
    // The security plugin's limit (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS), counted for this route alone.
    config: { auth: 'verify', rateLimit: {} }
  }, async (request, reply) => {
    const { code, subject } = request.body
    const answer = await signInAnswer(fastify.signIn, { code, subject, ip: request.ip }, request.log, (status) => { fastify.metrics.signIn(status) })
    return await reply.code(answer.status).headers(answer.headers).send(answer.body)
  })
}

export default signin
