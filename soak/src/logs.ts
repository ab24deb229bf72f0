/**
 * Every line every process prints goes through here: scanned for secrets and
 * whole codes, and the api's pino events the checks need (code.issued,
 * request.failed) are kept. What the workers did comes from their typed
 * events instead (worker-events.ts), not from their lines.
 */
import { createWriteStream, type WriteStream } from 'node:fs'

export interface Secret {
  label: string
  value: string
}

/** The api's code.issued line: ties a code (its id, with its expiry) to its queue message. */
export interface IssuedEvent {
  time: number
  codeId: string
  expiresAt: string
  messageId: string
}

export interface LogSummary {
  /** Lines per process. */
  lines: Record<string, number>
  /** Lines at warn (40), error (50) and fatal (60) per process. */
  levels: Record<string, { warn: number, error: number, fatal: number }>
  secretHits: { process: string, label: string, lines: number }[]
  /** Whole codes found in log lines, named by code id (`?` for one the soak was not given); `issued` when the api returned it to the soak. */
  codeHits: { process: string, id: string, issued: boolean }[]
  issued: IssuedEvent[]
  /** The api's request.failed events (5xx answers), by error code. */
  apiFailures: Record<string, number>
  /** The api's "unexpected error" lines: errors it had no answer for (500 internal). */
  apiUnexpected: number
  file?: string
}

/** A whole code anywhere in a line; code ids are hex without dashes, UUID segments are never 3 letters. */
const CODE_IN_TEXT = /(?<![A-Za-z0-9])[A-Za-z]{3}-(?:[1-9][0-9]{0,2}|1000)-[A-Za-z]{3}(?![A-Za-z0-9])/g

type Json = Record<string, unknown>

const str = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined
const num = (v: unknown): number | undefined => typeof v === 'number' ? v : undefined

export class LogWatch {
  #secrets: Secret[]
  readonly #lines: Record<string, number> = {}
  readonly #levels: Record<string, { warn: number, error: number, fatal: number }> = {}
  readonly #secretHits = new Map<string, { process: string, label: string, lines: number }>()
  /** process + whole code → seen; whole codes never leave this object. */
  readonly #codeHits = new Map<string, { process: string, code: string }>()
  readonly #issued: IssuedEvent[] = []
  readonly #apiFailures: Record<string, number> = {}
  #apiUnexpected = 0
  readonly #sink: WriteStream | undefined
  readonly #file: string | undefined

  constructor (secrets: Secret[], file?: string) {
    // Short values would match by accident; none of ours is short.
    this.#secrets = secrets.filter((s) => s.value.length >= 8)
    this.#file = file
    this.#sink = file !== undefined ? createWriteStream(file) : undefined
  }

  /** One more secret to look for in every later line (one known only once the system runs). */
  watch (secret: Secret): void {
    if (secret.value.length >= 8) this.#secrets = [...this.#secrets, secret]
  }

  /** One line from process `name` (startLocalSystem's onLine). */
  line (name: string, text: string): void {
    this.#lines[name] = (this.#lines[name] ?? 0) + 1
    this.#sink?.write(`[${name}] ${text}\n`)
    for (const secret of this.#secrets) {
      if (!text.includes(secret.value)) continue
      const key = `${name}\0${secret.label}`
      const hit = this.#secretHits.get(key) ?? { process: name, label: secret.label, lines: 0 }
      hit.lines++
      this.#secretHits.set(key, hit)
    }
    for (const match of text.matchAll(CODE_IN_TEXT)) {
      this.#codeHits.set(`${name}\0${match[0]}`, { process: name, code: match[0] })
    }
    if (!text.startsWith('{')) return
    let entry: Json
    try {
      entry = JSON.parse(text) as Json
    } catch {
      return
    }
    this.#entry(name, entry)
  }

  #entry (name: string, entry: Json): void {
    const level = num(entry.level) ?? 30
    if (level >= 40) {
      const counts = this.#levels[name] ??= { warn: 0, error: 0, fatal: 0 }
      if (level >= 60) counts.fatal++
      else if (level >= 50) counts.error++
      else counts.warn++
    }
    const time = num(entry.time) ?? Date.now()
    const msg = str(entry.msg)
    const event = str(entry.event)
    if (event === 'code.issued') {
      const codeId = str(entry.codeId)
      const expiresAt = str(entry.expiresAt)
      const messageId = str(entry.messageId)
      if (codeId !== undefined && expiresAt !== undefined && messageId !== undefined) {
        this.#issued.push({ time, codeId, expiresAt, messageId })
      }
      return
    }
    if (event === 'request.failed') {
      const error = str(entry.error) ?? '(none)'
      this.#apiFailures[error] = (this.#apiFailures[error] ?? 0) + 1
      return
    }
    if ((name === 'api' || name.startsWith('api-')) && msg === 'unexpected error') {
      this.#apiUnexpected++
    }
  }

  /** What was seen; `issuedCodes` tells which whole codes in the logs were codes the api returned, `idOf` names them. */
  summary (issuedCodes: ReadonlySet<string>, idOf: (code: string) => string = () => '?'): LogSummary {
    return {
      lines: { ...this.#lines },
      levels: structuredClone(this.#levels),
      secretHits: [...this.#secretHits.values()],
      codeHits: [...this.#codeHits.values()].map(({ process, code }) => ({ process, id: issuedCodes.has(code) ? idOf(code) : '?', issued: issuedCodes.has(code) })),
      issued: [...this.#issued],
      apiFailures: { ...this.#apiFailures },
      apiUnexpected: this.#apiUnexpected,
      ...(this.#file !== undefined ? { file: this.#file } : {})
    }
  }

  async close (): Promise<void> {
    const sink = this.#sink
    if (sink === undefined) return
    await new Promise<void>((resolve) => { sink.end(resolve) })
  }
}
