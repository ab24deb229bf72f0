/**
 * The queue message: what the api sends and the worker reads. This module
 * owns every byte of it (the envelope, the worker's `receivesBefore` mark,
 * the poison queue's record, the original sample's format); the services,
 * the benchmarks, the soak and the tests write and read them through it (the
 * soak's deliberate garbage aside).
 *
 * The envelope (v 2) names the code by its keyed hash (`codeHash`, see
 * code-hash.ts), never the code. Messages that carry a code in clear (the
 * original sample's `{code, timestamp}`, and v 1 envelopes of earlier
 * codegate versions) are hashed while they are read, with the hash function
 * the reader passes; a reader without one refuses them.
 *
 * The message says what it wants (`activate` or `expire`) and when the code
 * dies, so a redelivered or late message can be recognised (docs/architecture.md,
 * "Invariants"). Text is base64 of the JSON envelope by
 * default, as Azure Functions queue triggers expect.
 */
import { isCode, type CodeIssue } from './code.js'
import { codeIdOf, isCodeHash } from './code-hash.js'
import { MessageFormatError } from './errors.js'
import { formatTimestamp, parseTimestamp } from './time.js'
import { readTraceCarrier, type TraceCarrier } from './tracing.js'

export type Phase = 'activate' | 'expire'
export type MessageEncoding = 'base64' | 'text'

export interface CodeMessage extends CodeIssue {
  v: 2
  phase: Phase
  /** HMAC-SHA256 of the code under the code hash key (code-hash.ts). */
  codeHash: string
  /** ETag of the row the activation inserted; lets expire delete without reading first. */
  etag?: string
  /** W3C trace context of the span that issued the code (tracing.ts); absent when tracing is off. */
  trace?: TraceCarrier
}

/**
 * How a message was written: by codegate, or by the original Python sample.
 * `envelope-v1` is an earlier codegate's envelope, which carried the code in clear.
 */
export type MessageSource = 'envelope' | 'envelope-v1' | 'legacy'

/** Turns a code in clear into its stored hash (CodeHasher.hash). */
export type HashCode = (code: string) => string

export interface DecodedMessage {
  message: CodeMessage
  source: MessageSource
  /**
   * The worker's mark on an envelope it rewrote after a phase succeeded: the
   * dequeueCount of that receive (see attemptOf in lifecycle.ts). Absent when
   * the text carries none, or one that is not a whole number ≥ 0.
   */
  receivesBefore?: number
}

/** The envelope field that holds `DecodedMessage.receivesBefore`. */
const RECEIVES_BEFORE_FIELD = 'receivesBefore'

export const SUBJECT_PATTERN = '^[\\x21-\\x7E]{1,128}$'
const subjectRegExp = new RegExp(SUBJECT_PATTERN)

/** Longest message text we accept; Azure's own limit is 64 KiB. */
const MAX_TEXT_LENGTH = 4096

/**
 * The message's text. `receivesBefore`, when given, marks the envelope as
 * rewritten by the worker after the phase of receive number `receivesBefore`.
 */
export function encodeMessage (message: CodeMessage, encoding: MessageEncoding = 'base64', receivesBefore?: number): string {
  return encodeJson({
    v: 2,
    phase: message.phase,
    codeHash: message.codeHash,
    issuedAt: message.issuedAt.toISOString(),
    expiresAt: message.expiresAt.toISOString(),
    ...(message.subject !== undefined ? { subject: message.subject } : {}),
    ...(message.etag !== undefined ? { etag: message.etag } : {}),
    ...(message.trace !== undefined ? message.trace : {}),
    ...(receivesBefore !== undefined ? { [RECEIVES_BEFORE_FIELD]: receivesBefore } : {})
  }, encoding)
}

function encodeJson (value: object, encoding: MessageEncoding): string {
  const json = JSON.stringify(value)
  return encoding === 'base64' ? Buffer.from(json, 'utf8').toString('base64') : json
}

/** The original Python sample's message: a code and its issue time, nothing else. */
export interface SampleMessage {
  code: string
  issuedAt: Date
}

/**
 * The text the original sample put on the queue: Python's str() of
 * `{'code': …, 'timestamp': …}` (`python`), or the same as JSON (`json`), as
 * plain text or base64. Only tests and tools write it now; the worker still
 * reads it (decodeMessage).
 */
export function encodeSampleMessage (sample: SampleMessage, form: 'python' | 'json' = 'python', encoding: MessageEncoding = 'text'): string {
  const timestamp = formatTimestamp(sample.issuedAt)
  if (form === 'json') return encodeJson({ code: sample.code, timestamp }, encoding)
  const text = `{'code': '${sample.code}', 'timestamp': '${timestamp}'}`
  return encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text
}

const base64RegExp = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Reads any message text codegate or the original sample could have written:
 * base64 or plain JSON envelopes, and the sample's `{code, timestamp}` as plain
 * JSON or as Python's dict text (`{'code': 'ojE-161-pTv', 'timestamp': '…'}`),
 * which it turns into an activate that lives `legacyTtlSeconds`. A code in
 * clear is hashed with `hashCode`; without it such a message is refused.
 * Anything else throws MessageFormatError, whose message is the poison reason.
 */
export function decodeMessage (text: string, legacyTtlSeconds: number, hashCode?: HashCode): DecodedMessage {
  if (text.length === 0) throw new MessageFormatError('empty message')
  if (text.length > MAX_TEXT_LENGTH) throw new MessageFormatError(`message of ${text.length} characters is longer than ${MAX_TEXT_LENGTH}`)
  const trimmed = text.trim()
  let body = trimmed
  if (!trimmed.startsWith('{') && base64RegExp.test(trimmed)) {
    body = Buffer.from(trimmed, 'base64').toString('utf8').trim()
  }
  if (!body.startsWith('{')) throw new MessageFormatError('message is neither JSON nor base64 JSON')
  const value = parseObject(body)
  if ('v' in value || 'phase' in value) {
    if (value.v === 1) return marked({ message: readEnvelope(value, hashOf(value.code, hashCode)), source: 'envelope-v1' }, value)
    if (value.v !== 2) throw new MessageFormatError(`unsupported envelope version ${JSON.stringify(value.v) ?? 'undefined'}`)
    // A v2 envelope never carries a code in clear; one that does was not written by codegate.
    if ('code' in value) throw new MessageFormatError('a v2 envelope names its code by codeHash only')
    if (!isCodeHash(value.codeHash)) throw new MessageFormatError('codeHash is missing or not 64 lowercase hex characters')
    return marked({ message: readEnvelope(value, value.codeHash as string), source: 'envelope' }, value)
  }
  // The sample never wrote a mark, and its messages are never rewritten as themselves.
  return { message: readLegacy(value, legacyTtlSeconds, hashOf(value.code, hashCode)), source: 'legacy' }
}

/** `decoded` with the envelope's mark; a mark that is not a whole number ≥ 0 is ignored, not a reason to poison. */
function marked (decoded: DecodedMessage, value: Record<string, unknown>): DecodedMessage {
  const mark = value[RECEIVES_BEFORE_FIELD]
  if (typeof mark === 'number' && Number.isSafeInteger(mark) && mark >= 0) decoded.receivesBefore = mark
  return decoded
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

/** The hash of a code in clear; refused before hashing when it is not a code. */
function hashOf (value: unknown, hashCode: HashCode | undefined): string {
  if (!isCode(value)) throw new MessageFormatError('code is missing or not a code')
  if (hashCode === undefined) throw new MessageFormatError('the message carries a code in clear and this reader has no code hash key (KEY_VAULT_URL) to hash it with')
  return hashCode(value)
}

function readEnvelope (value: Record<string, unknown>, codeHash: string): CodeMessage {
  if (value.phase !== 'activate' && value.phase !== 'expire') throw new MessageFormatError('phase must be activate or expire')
  const issuedAt = readDate(value.issuedAt, 'issuedAt')
  const expiresAt = readDate(value.expiresAt, 'expiresAt')
  if (expiresAt <= issuedAt) throw new MessageFormatError('expiresAt is not after issuedAt')
  const message: CodeMessage = { v: 2, phase: value.phase, codeHash, issuedAt, expiresAt }
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

function readLegacy (value: Record<string, unknown>, ttlSeconds: number, codeHash: string): CodeMessage {
  const issuedAt = readDate(value.timestamp, 'timestamp')
  return {
    v: 2,
    phase: 'activate',
    codeHash,
    issuedAt,
    expiresAt: new Date(issuedAt.getTime() + ttlSeconds * 1000)
  }
}

/** A code anywhere in a text, also inside a longer word: scrubbing too much is harmless. */
const CODE_IN_TEXT = /[A-Za-z]{3}-(?:[1-9][0-9]{0,2}|1000)-[A-Za-z]{3}/g

/**
 * `text` with every code in it replaced by `[code <id>]` (or `[code]` without
 * a hash function), also inside base64, which is then kept decoded: what the
 * poison queue keeps of a message that held a code in clear. Text with no
 * code comes back unchanged.
 */
export function withoutCodes (text: string, idOf?: (code: string) => string): string {
  const scrub = (s: string): string => s.replace(CODE_IN_TEXT, (code) => idOf !== undefined ? `[code ${idOf(code)}]` : '[code]')
  const trimmed = text.trim()
  if (!trimmed.startsWith('{') && trimmed.length > 0 && base64RegExp.test(trimmed)) {
    const decoded = Buffer.from(trimmed, 'base64').toString('utf8')
    if (CODE_IN_TEXT.test(decoded)) {
      CODE_IN_TEXT.lastIndex = 0
      return scrub(decoded)
    }
  }
  return scrub(text)
}

/** Azure's limit on message text is 64 KiB; the poison record stays below it. */
const MAX_POISON_TEXT_LENGTH = 60_000

/** What the poison queue needs to know of the message it keeps. */
export interface PoisonedMessage {
  messageId: string
  dequeueCount: number
  insertedOn: Date
  messageText: string
}

/**
 * The poison queue's message: why, and the original text whole (cut only if
 * Azure's 64 KiB limit forces it, which it says). A code in clear in the
 * original (a sample's message) is replaced by its id (`[code <id>]`, or
 * `[code]` without `hashCode`): the poison queue is storage too.
 */
export function encodePoison (poisoned: PoisonedMessage, reason: string, encoding: MessageEncoding, hashCode?: HashCode): string {
  const original = withoutCodes(poisoned.messageText, hashCode !== undefined ? (code) => codeIdOf(hashCode(code)) : undefined)
  const scrubbed = original !== poisoned.messageText
  let keep = original.length
  for (;;) {
    const text = encodeJson({
      reason,
      messageId: poisoned.messageId,
      dequeueCount: poisoned.dequeueCount,
      insertedOn: poisoned.insertedOn.toISOString(),
      text: original.slice(0, keep),
      ...(scrubbed ? { codesScrubbed: true } : {}),
      ...(keep < original.length ? { truncatedFrom: original.length } : {})
    }, encoding)
    if (text.length <= MAX_POISON_TEXT_LENGTH || keep === 0) return text
    keep = Math.floor(keep / 2)
  }
}

/** What a poison record says: the original's id and the reason ('' where a field is missing). */
export interface PoisonNote {
  messageId: string
  reason: string
}

/** Reads a record encodePoison wrote (base64 or not); MessageFormatError when the text is no such record. */
export function decodePoison (text: string): PoisonNote {
  const trimmed = text.trim()
  let value: unknown
  try {
    value = JSON.parse(trimmed.startsWith('{') ? trimmed : Buffer.from(trimmed, 'base64').toString('utf8'))
  } catch {
    throw new MessageFormatError('poison record is neither JSON nor base64 JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MessageFormatError('poison record is not a JSON object')
  const { messageId, reason } = value as Record<string, unknown>
  return { messageId: typeof messageId === 'string' ? messageId : '', reason: typeof reason === 'string' ? reason : '' }
}
