/**
 * The queue message: what the api sends and the worker reads.
 *
 * The message says what it wants (`activate` or `expire`) and when the code
 * dies, so a redelivered or late message can be recognised (design.md, "Why
 * the worker does not toggle blindly"). Text is base64 of the JSON envelope by
 * default, as Azure Functions queue triggers expect.
 */
import { isCode } from './code.js'
import { MessageFormatError } from './errors.js'
import { parseTimestamp } from './time.js'
import { readTraceCarrier, type TraceCarrier } from './tracing.js'

export type Phase = 'activate' | 'expire'
export type MessageEncoding = 'base64' | 'text'

export interface CodeMessage {
  v: 1
  phase: Phase
  code: string
  issuedAt: Date
  expiresAt: Date
  subject?: string
  /** ETag of the row the activation inserted; lets expire delete without reading first. */
  etag?: string
  /** W3C trace context of the span that issued the code (tracing.ts); absent when tracing is off. */
  trace?: TraceCarrier
}

/** How a message was written: by codegate, or by the original Python sample. */
export type MessageSource = 'envelope' | 'legacy'

export interface DecodedMessage {
  message: CodeMessage
  source: MessageSource
}

export const SUBJECT_PATTERN = '^[\\x21-\\x7E]{1,128}$'
const subjectRegExp = new RegExp(SUBJECT_PATTERN)

/** Longest message text we accept; Azure's own limit is 64 KiB. */
const MAX_TEXT_LENGTH = 4096

export function encodeMessage (message: CodeMessage, encoding: MessageEncoding = 'base64'): string {
  const json = JSON.stringify({
    v: 1,
    phase: message.phase,
    code: message.code,
    issuedAt: message.issuedAt.toISOString(),
    expiresAt: message.expiresAt.toISOString(),
    ...(message.subject !== undefined ? { subject: message.subject } : {}),
    ...(message.etag !== undefined ? { etag: message.etag } : {}),
    ...(message.trace !== undefined ? message.trace : {})
  })
  return encoding === 'base64' ? Buffer.from(json, 'utf8').toString('base64') : json
}

const base64RegExp = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Reads any message text codegate or the original sample could have written:
 * base64 or plain JSON envelopes, and the sample's `{code, timestamp}` as plain
 * JSON or as Python's dict text (`{'code': 'ojE-161-pTv', 'timestamp': '…'}`),
 * which it turns into an activate that lives `legacyTtlSeconds`.
 * Anything else throws MessageFormatError, whose message is the poison reason.
 */
export function decodeMessage (text: string, legacyTtlSeconds: number): DecodedMessage {
  if (text.length === 0) throw new MessageFormatError('empty message')
  if (text.length > MAX_TEXT_LENGTH) throw new MessageFormatError(`message of ${text.length} characters is longer than ${MAX_TEXT_LENGTH}`)
  const trimmed = text.trim()
  let body = trimmed
  if (!trimmed.startsWith('{') && base64RegExp.test(trimmed)) {
    body = Buffer.from(trimmed, 'base64').toString('utf8').trim()
  }
  if (!body.startsWith('{')) throw new MessageFormatError('message is neither JSON nor base64 JSON')
  const value = parseObject(body)
  if ('v' in value || 'phase' in value) return { message: readEnvelope(value), source: 'envelope' }
  return { message: readLegacy(value, legacyTtlSeconds), source: 'legacy' }
}

function parseObject (body: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    value = parsePythonDict(body)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MessageFormatError('message is not a JSON object')
  }
  return value as Record<string, unknown>
}

/** Python's str() of a flat dict of strings: `{'a': 'x', 'b': 'y'}`. */
function parsePythonDict (body: string): Record<string, string> {
  const inner = /^\{(.*)\}$/s.exec(body)?.[1]
  if (inner === undefined) throw new MessageFormatError('message is not valid JSON')
  const out: Record<string, string> = {}
  const pair = /\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*:\s*'([^'\\]*)'\s*(,|$)/y
  let rest = inner.trim()
  while (rest.length > 0) {
    pair.lastIndex = 0
    const m = pair.exec(rest)
    if (m === null) throw new MessageFormatError('message is not valid JSON')
    out[m[1] as string] = m[2] as string
    rest = rest.slice(m[0].length)
  }
  return out
}

function readDate (value: unknown, field: string): Date {
  const date = typeof value === 'string' ? parseTimestamp(value) : undefined
  if (date === undefined) throw new MessageFormatError(`${field} is not a timestamp`)
  return date
}

function readCode (value: unknown): string {
  if (!isCode(value)) throw new MessageFormatError('code is missing or not a code')
  return value
}

function readEnvelope (value: Record<string, unknown>): CodeMessage {
  if (value.v !== 1) throw new MessageFormatError(`unsupported envelope version ${JSON.stringify(value.v) ?? 'undefined'}`)
  if (value.phase !== 'activate' && value.phase !== 'expire') throw new MessageFormatError('phase must be activate or expire')
  const issuedAt = readDate(value.issuedAt, 'issuedAt')
  const expiresAt = readDate(value.expiresAt, 'expiresAt')
  if (expiresAt <= issuedAt) throw new MessageFormatError('expiresAt is not after issuedAt')
  const message: CodeMessage = { v: 1, phase: value.phase, code: readCode(value.code), issuedAt, expiresAt }
  if (value.subject !== undefined) {
    if (typeof value.subject !== 'string' || !subjectRegExp.test(value.subject)) throw new MessageFormatError('subject is not a valid subject')
    message.subject = value.subject
  }
  if (value.etag !== undefined) {
    if (typeof value.etag !== 'string' || value.etag.length > 256) throw new MessageFormatError('etag is not a string')
    message.etag = value.etag
  }
  // A malformed trace context is dropped, not a reason to poison a valid code.
  const carrier = readTraceCarrier(value.traceparent, value.tracestate)
  if (carrier !== undefined) message.trace = carrier
  return message
}

function readLegacy (value: Record<string, unknown>, ttlSeconds: number): CodeMessage {
  const issuedAt = readDate(value.timestamp, 'timestamp')
  return {
    v: 1,
    phase: 'activate',
    code: readCode(value.code),
    issuedAt,
    expiresAt: new Date(issuedAt.getTime() + ttlSeconds * 1000)
  }
}
