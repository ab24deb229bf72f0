/**
 * Issues a code: a number from the third party, letters around it, and an
 * `activate` message on the queue that names the code by its hash only. The
 * caller gets the code only after the queue took the message, so every code
 * handed out will be activated.
 */
import type { QueueClient } from '@azure/storage-queue'
import { generateCode, type CodeIssue } from '@codegate/shared/code'
import { codeIdOf, type CodeHasher } from '@codegate/shared/code-hash'
import { shardOf } from '@codegate/shared/shards'
import { encodeMessage, type CodeMessage, type MessageEncoding } from '@codegate/shared/message'
import { activeTraceCarrier, tracer } from '@codegate/shared/tracing'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { StorageUnavailableError } from './errors.js'
import { secondsSince, type IssuerObserver } from './metrics.js'

export interface IssuedCode extends CodeIssue {
  code: string
  /** The code's name in logs (codeIdOf its hash). */
  codeId: string
  messageId: string
}

export interface CodeIssuerOptions {
  numbers: { next: () => Promise<number> }
  /** The current code hash key; throws (a 503) while it is not loaded. */
  hasher: () => Promise<CodeHasher>
  /** The queue shards; a code's message goes to the one its hash picks. */
  shards: Array<Pick<QueueClient, 'sendMessage' | 'name'>>
  /** Creates the queues if needed; resolves at once after the first success. */
  ensureQueue: () => Promise<void>
  ttlSeconds: number
  encoding: MessageEncoding
  now: () => Date
  /** Bounds the codes being issued at once (each holds one third-party call, then one queue send); unbounded without. */
  limit?: { run: <T>(task: () => Promise<T>) => Promise<T> }
  /** Told each queue send's time and result, and each code handed out. */
  observe?: IssuerObserver
}

export class CodeIssuer {
  constructor (private readonly options: CodeIssuerOptions) {}

  async issue (subject?: string): Promise<IssuedCode> {
    const { limit } = this.options
    return limit !== undefined ? await limit.run(async () => await this.#issue(subject)) : await this.#issue(subject)
  }

  async #issue (subject?: string): Promise<IssuedCode> {
    const { numbers, shards, ensureQueue, ttlSeconds, encoding, now, observe } = this.options
    // Before the paid third-party call: without the key no code could be stored.
    const hasher = await this.options.hasher()
    const code = generateCode(await numbers.next())
    const codeHash = hasher.hash(code)
    const queue = shards[shardOf(codeHash, shards.length)] as Pick<QueueClient, 'sendMessage' | 'name'>
    const issuedAt = now()
    const expiresAt = new Date(issuedAt.getTime() + ttlSeconds * 1000)
    const message: CodeMessage = { v: 2, phase: 'activate', codeHash, issuedAt, expiresAt, ...(subject !== undefined ? { subject } : {}) }
    // The send is the producer span; its context travels in the envelope, so the worker's activate is its child.
    // The code id (as the logs name the code, never the code) is how `npm run trace` finds a code's trace.
    const codeId = codeIdOf(codeHash)
    return await tracer().startActiveSpan('codegate.enqueue', {
      kind: SpanKind.PRODUCER,
      attributes: { 'messaging.system': 'azure_queue_storage', 'messaging.operation.type': 'send', 'messaging.destination.name': queue.name, 'codegate.code_id': codeId }
    }, async (span) => {
      const trace = activeTraceCarrier()
      if (trace !== undefined) message.trace = trace
      let start: number | undefined
      try {
        await ensureQueue()
        start = performance.now()
        // Never expires in the queue: the worker hides it for the code's whole life,
        // and updateMessage cannot reach past a message's expiry (7 days by default).
        const sent = await queue.sendMessage(encodeMessage(message, encoding), { messageTimeToLive: -1 })
        observe?.queueSend(secondsSince(start), true)
        observe?.issued()
        span.setAttribute('messaging.message.id', sent.messageId)
        return { code, codeId, issuedAt, expiresAt, messageId: sent.messageId, ...(subject !== undefined ? { subject } : {}) }
      } catch (err) {
        if (start !== undefined) observe?.queueSend(secondsSince(start), false)
        span.setStatus({ code: SpanStatusCode.ERROR })
        throw new StorageUnavailableError('queue', { cause: err })
      } finally {
        span.end()
      }
    })
  }
}
