/**
 * The wire contract's schemas as JSON: what Fastify validates with, what the
 * Functions host compiles with its own Ajv, and what /docs publishes. They are
 * written with TypeBox for their types; as JSON they must say what the
 * hand-written schemas said, so validation and its 400 answers stay the same.
 */
import t from 'tap'
import { CODE_PATTERN } from '@codegate/shared/code'
import { SUBJECT_PATTERN } from '@codegate/shared/message'
import { approvedSchema, errorRef, errors, errorSchema, getCodeQuerySchema, issuedCodeSchema, signInBodySchema } from '../src/schemas.js'

/** What a JSON consumer sees: TypeBox's symbol keys dropped. */
const json = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema))

const subject = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: SUBJECT_PATTERN,
  description: 'Who the code is for (printable ASCII, no spaces); a code issued for a subject signs in only that subject.'
}
const code = { type: 'string', maxLength: 16, pattern: CODE_PATTERN, description: 'Three letters, the number, three letters, e.g. ojE-161-pTv' }

t.test('the request schemas are the JSON schemas the routes always checked against', async (t) => {
  t.same(json(signInBodySchema), { type: 'object', required: ['code'], additionalProperties: false, properties: { code, subject } })
  t.same(json(getCodeQuerySchema), { type: 'object', properties: { subject } }, 'no required key: the subject is optional')
})

t.test('the answer schemas are the ones the OpenAPI document published', async (t) => {
  t.same(json(issuedCodeSchema), {
    type: 'object',
    required: ['code', 'timestamp', 'expiresAt'],
    properties: {
      code,
      timestamp: { type: 'string', description: 'When the code was issued: UTC, YYYY-MM-DD HH:MM:SS.ffffff (the original app\'s format)' },
      expiresAt: { type: 'string', format: 'date-time', description: 'When the code stops being accepted' }
    }
  })
  t.same(json(approvedSchema), { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['approved'] } } })
  t.same(json(errorSchema), {
    $id: 'HttpError',
    type: 'object',
    description: 'Every error: a stable code to branch on and a message for people.',
    required: ['error', 'message'],
    properties: {
      error: { type: 'string', description: 'Stable error code, e.g. invalid_code, rate_limited, third_party_failed' },
      message: { type: 'string' }
    }
  })
  t.same(json(errors(400, 503)), { 400: { $ref: 'HttpError#' }, 503: { $ref: 'HttpError#' } })
  t.same(json(errorRef), { $ref: 'HttpError#' })
})
