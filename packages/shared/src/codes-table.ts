/**
 * The table of valid codes. One row per live code: row key = the code's keyed
 * hash (code-hash.ts), partition = its first two hex digits; the code itself
 * is never stored. Every write that depends on what it
 * read is ETag-conditioned, so concurrent workers and sign-ins cannot undo
 * each other's work.
 */
import type { TableClient } from '@azure/data-tables'
import type { CodeIssue } from './code.js'
import { CodeFormatError, statusOf } from './errors.js'
import { codeIdOf, isCodeHash } from './code-hash.js'
import type { CodeMessage } from './message.js'
import { linkTo, readTraceCarrier, type TraceCarrier } from './tracing.js'
import { trace } from '@opentelemetry/api'

export interface CodeRow extends CodeIssue {
  codeHash: string
  consumedAt?: Date
  /** Trace context of the code's issue, when it was traced: a sign-in links to it. */
  trace?: TraceCarrier
  etag: string
}

/** Why a sign-in was refused; for logs only, the caller sees one answer for all. */
export type SignInRefusal = 'unknown' | 'expired' | 'consumed' | 'subject' | 'race'

export type SignInResult = { approved: true } | { approved: false, reason: SignInRefusal }

export type InsertResult =
  | { inserted: true, etag: string }
  | { inserted: false, row: CodeRow }

export type DeleteResult =
  | { outcome: 'deleted' | 'absent' }
  /** The stored row expires later than `expiresAt`: a different issue of the same code, left alone. */
  | { outcome: 'newer' }
  | { outcome: 'early', msLeft: number }

interface Entity {
  partitionKey: string
  rowKey: string
  issuedAt: Date
  expiresAt: Date
  subject?: string
  consumedAt?: Date
  traceparent?: string
  tracestate?: string
}

/** Two hex digits of the hash spread codes over 256 partitions, so no partition's 2,000 entities/s target is the limit. */
export function partitionKeyOfHash (codeHash: string): string {
  return codeHash.slice(0, 2)
}

/** Refuses anything but a hash before it reaches storage (a row key is also a query). */
function assertCodeHash (value: string): string {
  if (!isCodeHash(value)) throw new CodeFormatError('a code hash is 64 lowercase hex characters')
  return value
}

/** The sign-in rule, from the row alone: present, unused, unexpired, same subject. */
export function checkSignIn (row: CodeRow | undefined, subject: string | undefined, now: Date): SignInResult {
  if (row === undefined) return { approved: false, reason: 'unknown' }
  if (row.consumedAt !== undefined) return { approved: false, reason: 'consumed' }
  if (now.getTime() >= row.expiresAt.getTime()) return { approved: false, reason: 'expired' }
  if (row.subject !== undefined && row.subject !== subject) return { approved: false, reason: 'subject' }
  return { approved: true }
}

/** Options of a table call: an abort signal that ends it early (a request's deadline). */
export interface CallOptions {
  abortSignal?: AbortSignal
}

export class CodesTable {
  constructor (readonly client: TableClient) {}

  /** Creates the table if it is missing (idempotent). */
  async ensureTable (): Promise<void> {
    await this.client.createTable()
  }

  async get (codeHash: string, options: CallOptions = {}): Promise<CodeRow | undefined> {
    assertCodeHash(codeHash)
    try {
      const entity = await this.client.getEntity<Entity>(partitionKeyOfHash(codeHash), codeHash, options)
      return toRow(entity)
    } catch (err) {
      if (statusOf(err) === 404) return undefined
      throw err
    }
  }

  /** Insert-if-absent: a redelivered activate finds the row and changes nothing. */
  async insert (message: CodeMessage): Promise<InsertResult> {
    const entity: Entity = {
      partitionKey: partitionKeyOfHash(message.codeHash),
      rowKey: assertCodeHash(message.codeHash),
      issuedAt: message.issuedAt,
      expiresAt: message.expiresAt,
      ...(message.subject !== undefined ? { subject: message.subject } : {}),
      ...(message.trace !== undefined ? message.trace : {})
    }
    try {
      const response = await this.client.createEntity(entity)
      return { inserted: true, etag: response.etag ?? '*' }
    } catch (err) {
      if (statusOf(err) !== 409) throw err
      const row = await this.get(message.codeHash)
      // Deleted between our insert and read: the code is past expiry, nothing to do.
      if (row === undefined) return { inserted: false, row: { ...entity, codeHash: message.codeHash, etag: '*' } }
      return { inserted: false, row }
    }
  }

  /**
   * Deletes the code once it has expired. With the ETag the activation saw,
   * the usual case is one call; if the row changed since (a sign-in consumed
   * it) it is read again and deleted under its new ETag.
   */
  async deleteExpired (codeHash: string, expiresAt: Date, now: Date, etag?: string): Promise<DeleteResult> {
    const msLeft = expiresAt.getTime() - now.getTime()
    if (msLeft > 0) return { outcome: 'early', msLeft }
    const pk = partitionKeyOfHash(assertCodeHash(codeHash))
    let knownEtag = etag
    for (let attempt = 0; attempt < 5; attempt++) {
      if (knownEtag === undefined) {
        const row = await this.get(codeHash)
        if (row === undefined) return { outcome: 'absent' }
        if (row.expiresAt.getTime() > expiresAt.getTime()) return { outcome: 'newer' }
        if (row.expiresAt.getTime() > now.getTime()) return { outcome: 'early', msLeft: row.expiresAt.getTime() - now.getTime() }
        knownEtag = row.etag
      }
      try {
        await this.client.deleteEntity(pk, codeHash, { etag: knownEtag })
        return { outcome: 'deleted' }
      } catch (err) {
        const status = statusOf(err)
        if (status === 404) return { outcome: 'absent' }
        if (status !== 412) throw err
        knownEtag = undefined
      }
    }
    throw new Error(`the row of code ${codeIdOf(codeHash)} kept changing while it was being deleted`)
  }

  /**
   * Checks a code and marks it consumed in one ETag-conditioned step: of two
   * concurrent sign-ins with one code, exactly one passes. `codeHashes` are
   * the code's hashes under every accepted key (CodeHasher.candidates): all
   * are looked up, at once, whichever finds the row, so the answer's timing
   * does not tell which key a code was stored under.
   */
  async consume (codeHashes: string[], subject: string | undefined, now: Date, options: CallOptions = {}): Promise<SignInResult & { codeHash?: string }> {
    const rows = await Promise.all(codeHashes.map(async (h) => await this.get(h, options)))
    const row = rows.find((r) => r !== undefined)
    // The sign-in's span (the request's, when traced) links to the trace of the code's issue.
    const link = linkTo(row?.trace)
    if (link !== undefined) trace.getActiveSpan()?.addLink(link)
    const check = checkSignIn(row, subject, now)
    if (!check.approved || row === undefined) return row === undefined ? check : { ...check, codeHash: row.codeHash }
    try {
      await this.client.updateEntity(
        { partitionKey: partitionKeyOfHash(row.codeHash), rowKey: row.codeHash, consumedAt: now },
        'Merge',
        { etag: row.etag, ...options }
      )
      return { approved: true, codeHash: row.codeHash }
    } catch (err) {
      const status = statusOf(err)
      if (status === 412 || status === 404) return { approved: false, reason: 'race', codeHash: row.codeHash }
      throw err
    }
  }
}

function toRow (entity: Entity & { etag: string }): CodeRow {
  const carrier = readTraceCarrier(entity.traceparent, entity.tracestate)
  return {
    codeHash: entity.rowKey,
    issuedAt: new Date(entity.issuedAt),
    expiresAt: new Date(entity.expiresAt),
    ...(entity.subject !== undefined ? { subject: entity.subject } : {}),
    ...(entity.consumedAt !== undefined ? { consumedAt: new Date(entity.consumedAt) } : {}),
    ...(carrier !== undefined ? { trace: carrier } : {}),
    etag: entity.etag
  }
}
