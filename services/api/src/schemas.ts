/**
 * JSON schemas of the wire contract: validation, response serialization and
 * the OpenAPI document. Written with TypeBox, so the request and answer types
 * the routes see are derived from them (Static<typeof …>), never restated.
 */
import { Type, type Static, type TString, type TUnsafe } from '@sinclair/typebox'
import { CODE_PATTERN } from '@codegate/shared/code'
import { SUBJECT_PATTERN } from '@codegate/shared/message'

/** Longest code: `abc-1000-def`. A little slack so a near-miss gets the pattern error. */
export const CODE_MAX_LENGTH = 16
export const SUBJECT_MAX_LENGTH = 128

/**
 * `{ type: 'string', enum: [...] }`, typed as the union of its values.
 * TypeBox's own literals publish `const` or `anyOf` instead, which would
 * change the OpenAPI document.
 */
export function StringEnum<const T extends readonly string[]> (values: T, options: { description?: string } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })
}

export const errorSchema = Type.Object({
  error: Type.String({ description: 'Stable error code, e.g. invalid_code, rate_limited, third_party_failed' }),
  message: Type.String()
}, { $id: 'HttpError', description: 'Every error: a stable code to branch on and a message for people.' })

export type HttpErrorBody = Static<typeof errorSchema>

/**
 * The error schema by reference: one named component in the OpenAPI
 * document. A plain reference, not a TypeBox schema, so the type of an
 * error answer is left to HttpErrorBody where operations.ts builds it.
 */
export const errorRef = { $ref: 'HttpError#' } as const

/** Error responses, by status, for a route's `response` schema. */
export function errors<const S extends readonly number[]> (...statuses: S): Record<S[number], typeof errorRef> {
  return Object.fromEntries(statuses.map((s) => [s, errorRef])) as Record<S[number], typeof errorRef>
}

export const subjectSchema: TString = Type.String({
  minLength: 1,
  maxLength: SUBJECT_MAX_LENGTH,
  pattern: SUBJECT_PATTERN,
  description: 'Who the code is for (printable ASCII, no spaces); a code issued for a subject signs in only that subject.'
})

export const codeSchema: TString = Type.String({
  maxLength: CODE_MAX_LENGTH,
  pattern: CODE_PATTERN,
  description: 'Three letters, the number, three letters, e.g. ojE-161-pTv'
})

/** getcode's query string. */
export const getCodeQuerySchema = Type.Object({ subject: Type.Optional(subjectSchema) })
export type GetCodeQuery = Static<typeof getCodeQuerySchema>

/** getcode's answer. */
export const issuedCodeSchema = Type.Object({
  code: codeSchema,
  timestamp: Type.String({ description: 'When the code was issued: UTC, YYYY-MM-DD HH:MM:SS.ffffff (the original app\'s format)' }),
  expiresAt: Type.String({ format: 'date-time', description: 'When the code stops being accepted' })
})
export type IssuedCodeBody = Static<typeof issuedCodeSchema>

/** sign-in's body: checked before anything touches the table. */
export const signInBodySchema = Type.Object({ code: codeSchema, subject: Type.Optional(subjectSchema) }, { additionalProperties: false })
export type SignInBody = Static<typeof signInBodySchema>

/** sign-in's answer when the code is accepted. */
export const approvedSchema = Type.Object({ status: StringEnum(['approved']) })
export type ApprovedBody = Static<typeof approvedSchema>

/** A valid sign-in body is under 200 bytes. */
export const SIGNIN_BODY_LIMIT = 1024
