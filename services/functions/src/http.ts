/**
 * The HTTP side of the Functions host, reduced to what the shared operations
 * need: the request's values, checked with the api's own schemas and limits
 * (what Fastify does before a route runs), and the answer written back.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions'
import { HttpError, type Answer } from '@codegate/api/operations'
import { getCodeQuerySchema, SIGNIN_BODY_LIMIT, signInBodySchema, type GetCodeQuery, type SignInBody } from '@codegate/api/schemas'
import { Ajv, type ValidateFunction } from 'ajv'

// As the api's Fastify instance: reject, never repair.
const ajv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false })
const validateQuery = ajv.compile(getCodeQuerySchema)
const validateSignIn = ajv.compile(signInBodySchema)

function check<T> (validate: ValidateFunction, value: unknown, dataVar: string): T {
  if (!validate(value)) throw new HttpError(400, 'invalid_request', ajv.errorsText(validate.errors, { dataVar }))
  return value as T
}

export function toResponse (answer: Answer): HttpResponseInit {
  return { status: answer.status, headers: answer.headers, jsonBody: answer.body }
}

/** getcode's query: a repeated `subject` is an array, so the schema refuses it, as Fastify's does. */
export function getCodeQuery (request: HttpRequest): GetCodeQuery {
  const query: Record<string, string | string[]> = {}
  for (const name of new Set(request.query.keys())) {
    const values = request.query.getAll(name)
    query[name] = values.length === 1 ? values[0] as string : values
  }
  return check(validateQuery, query, 'querystring')
}

/** sign-in's body: JSON only, at most SIGNIN_BODY_LIMIT bytes, then the schema; all before any table call. */
export async function signInBody (request: HttpRequest): Promise<SignInBody> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') throw new HttpError(415, 'unsupported_media_type', 'Send the body as application/json.')
  const declared = Number(request.headers.get('content-length') ?? '0')
  const tooLarge = (): HttpError => new HttpError(413, 'payload_too_large', 'The request body is too large.')
  // The host has read the body already; this keeps the contract, not the memory.
  if (declared > SIGNIN_BODY_LIMIT) throw tooLarge()
  const text = await request.text()
  if (Buffer.byteLength(text) > SIGNIN_BODY_LIMIT) throw tooLarge()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new HttpError(400, 'invalid_json', 'The body is not valid JSON.')
  }
  return check(validateSignIn, body, 'body')
}

/**
 * The client's address for the per-address sign-in lockout. A function sees
 * no socket: the platform's front end adds the address it saw as the last
 * X-Forwarded-For entry (`ip:port`), after whatever the client sent, so only
 * that entry is believed.
 */
export function clientAddress (request: HttpRequest): string {
  const last = (request.headers.get('x-forwarded-for') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '').pop()
  if (last === undefined) return 'unknown'
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(last)
  if (bracketed !== null) return bracketed[1] as string
  // One colon: IPv4 with a port. More: a bare IPv6 address.
  return /^[^:]+:\d+$/.test(last) ? last.slice(0, last.lastIndexOf(':')) : last
}
