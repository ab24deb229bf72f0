/** JSON schemas of the wire contract: validation, response serialization and the OpenAPI document. */
import { CODE_PATTERN } from '@codegate/shared/code'
import { SUBJECT_PATTERN } from '@codegate/shared/message'

/** Longest code: `abc-1000-def`. A little slack so a near-miss gets the pattern error. */
export const CODE_MAX_LENGTH = 16
export const SUBJECT_MAX_LENGTH = 128

export const errorSchema = {
  $id: 'HttpError',
  type: 'object',
  description: 'Every error: a stable code to branch on and a message for people.',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'Stable error code, e.g. invalid_code, rate_limited, third_party_failed' },
    message: { type: 'string' }
  }
} as const

export const errorRef = { $ref: 'HttpError#' } as const

/** Error responses, by status, for a route's `response` schema. */
export function errors (...statuses: number[]): Record<number, typeof errorRef> {
  return Object.fromEntries(statuses.map((s) => [s, errorRef]))
}

export const subjectSchema = {
  type: 'string',
  minLength: 1,
  maxLength: SUBJECT_MAX_LENGTH,
  pattern: SUBJECT_PATTERN,
  description: 'Who the code is for (printable ASCII, no spaces); a code issued for a subject signs in only that subject.'
} as const

export const codeSchema = {
  type: 'string',
  maxLength: CODE_MAX_LENGTH,
  pattern: CODE_PATTERN,
  description: 'Three letters, the number, three letters, e.g. ojE-161-pTv'
} as const

/** getcode's query string. */
export const getCodeQuerySchema = { type: 'object', properties: { subject: subjectSchema } } as const

/** sign-in's body: checked before anything touches the table. */
export const signInBodySchema = {
  type: 'object',
  required: ['code'],
  additionalProperties: false,
  properties: { code: codeSchema, subject: subjectSchema }
} as const

/** A valid sign-in body is under 200 bytes. */
export const SIGNIN_BODY_LIMIT = 1024
