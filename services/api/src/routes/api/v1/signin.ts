/**
 * POST /api/v1/signin: redeems a code once. The body is checked against the
 * schema before anything touches the table; every refusal gets one answer.
 */
import type { FastifyPluginAsync } from 'fastify'
import { maskSubject } from '../../../log-safety.js'
import { codeSchema, errors, subjectSchema } from '../../../schemas.js'

interface SignIn {
  Body: { code: string, subject?: string }
}

/** A valid body is under 200 bytes. */
export const SIGNIN_BODY_LIMIT = 1024

const signin: FastifyPluginAsync = async (fastify) => {
  const { config } = fastify

  fastify.post<SignIn>('/signin', {
    bodyLimit: SIGNIN_BODY_LIMIT,
    schema: {
      tags: ['codes'],
      summary: 'Sign in with a code (single use)',
      description: '401 invalid_code for a code that is unknown, expired, already used or issued for another subject. ' +
        '429 locked after too many failed sign-ins from this client address, or for this subject from this address; ' +
        'also while the address has as many sign-ins in flight as it has failures left. Retry-After says when to try again. ' +
        '503 when the table does not answer within the storage timeout.',
      body: {
        type: 'object',
        required: ['code'],
        additionalProperties: false,
        properties: { code: codeSchema, subject: subjectSchema }
      },
      response: {
        200: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['approved'] } } },
        ...errors(400, 401, 413, 415, 429, 503)
      }
    },
    config: { auth: 'verify', rateLimit: { max: config.rateLimitMax, timeWindow: config.rateLimitWindowMs } }
  }, async (request, reply) => {
    const { code, subject } = request.body
    const outcome = await fastify.signIn.signIn({ code, subject, ip: request.ip })
    fastify.metrics.signIn(outcome.status)
    const log = { codeId: outcome.codeId, subject: maskSubject(subject) }
    void reply.header('cache-control', 'no-store')
    switch (outcome.status) {
      case 'approved':
        request.log.info({ event: 'signin.approved', ...log }, 'sign-in approved')
        return { status: 'approved' as const }
      case 'refused':
        request.log.info({ event: 'signin.refused', reason: outcome.reason, ...log }, 'sign-in refused')
        return await reply.code(401).send({ error: 'invalid_code', message: 'The code is not valid. Get a new one and try again.' })
      case 'locked':
        request.log.warn({ event: 'signin.locked', reason: outcome.reason, retryAfterSeconds: outcome.retryAfterSeconds, ...log }, 'sign-in refused: locked')
        return await reply.code(429).header('retry-after', String(outcome.retryAfterSeconds)).send({
          error: 'locked',
          message: `Too many failed sign-ins; try again in ${outcome.retryAfterSeconds} seconds.`
        })
    }
  })
}

export default signin
