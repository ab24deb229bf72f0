/**
 * Child: the baseline of the worker. The storage calls of an activation,
 * with the same SDK client factories and the same concurrency (batches of
 * 32, at most 64 messages in flight), in a bare loop: receive, insert the
 * row, rewrite the message as an expire hidden until expiry (updateMessage).
 * The message is read and written by the codec, as the worker does; no
 * lifecycle rules, no logging.
 */
import type { TableClient } from '@azure/data-tables'
import { createQueues, createTableClient, type Queues } from '@codegate/shared/clients'
import { partitionKeyOfHash } from '@codegate/shared/codes-table'
import { decodeMessage, encodeMessage } from '@codegate/shared/message'
import { serve } from '../child.js'
import { summarize, type LatencySummary } from '../stats.js'
import { storageConfig } from '../system.js'

export interface BareWorkerRequest {
  /** Stop after this many activations. */
  activations: number
  batchSize: number
  maxInFlight: number
  visibilityTimeoutSeconds: number
}

export interface BareWorkerResult {
  activated: number
  errors: number
  /** Epoch ms when the loop began and when the last activation finished. */
  startedAt: number
  endedAt: number
  receives: number
  emptyReceives: number
  /** Time of one receive call (Azurite's cost grows with stored messages). */
  receiveLatency: LatencySummary
}

/** Life of the sample's `{code, timestamp}` messages; the benchmark sends only envelopes, which carry their own. */
const TTL_SECONDS = 600

interface State {
  queues: Queues
  table: TableClient
}

serve<BareWorkerRequest, BareWorkerResult, State>(
  async () => {
    const config = storageConfig(process.env.BENCH_CONNECTION_STRING as string)
    const queues = createQueues(config)
    const table = createTableClient(config)
    await Promise.all([queues.queue.createIfNotExists(), table.createTable()])
    return { state: { queues, table } }
  },
  async (request, { queues, table }) => {
    const { queue } = queues
    const startedAt = Date.now()
    const receiveTimes: number[] = []
    let activated = 0
    let errors = 0
    let emptyReceives = 0
    let endedAt = startedAt
    const inFlight = new Set<Promise<void>>()
    const threshold = Math.min(request.batchSize, Math.ceil(request.maxInFlight / 2))

    const activate = async (messageId: string, popReceipt: string, text: string): Promise<void> => {
      const { message } = decodeMessage(text, TTL_SECONDS)
      const inserted = await table.createEntity({ partitionKey: partitionKeyOfHash(message.codeHash), rowKey: message.codeHash, issuedAt: message.issuedAt, expiresAt: message.expiresAt })
      const expire = encodeMessage({ ...message, phase: 'expire', ...(inserted.etag !== undefined ? { etag: inserted.etag } : {}) }, 'base64', 1)
      const hideSeconds = Math.max(1, Math.ceil((message.expiresAt.getTime() - Date.now()) / 1000))
      await queue.updateMessage(messageId, popReceipt, expire, hideSeconds)
    }

    while (activated < request.activations) {
      const room = request.maxInFlight - inFlight.size
      if (inFlight.size > 0 && (room < threshold || activated + inFlight.size >= request.activations)) {
        await Promise.race(inFlight)
        continue
      }
      const t0 = performance.now()
      const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: Math.min(request.batchSize, room), visibilityTimeout: request.visibilityTimeoutSeconds })
      receiveTimes.push(performance.now() - t0)
      if (receivedMessageItems.length === 0) {
        emptyReceives++
        if (inFlight.size > 0) await Promise.race(inFlight)
        else await new Promise((resolve) => setTimeout(resolve, 50))
        continue
      }
      for (const item of receivedMessageItems) {
        const task: Promise<void> = activate(item.messageId, item.popReceipt, item.messageText).then(
          () => { activated++; endedAt = Date.now() },
          () => { errors++ }
        ).finally(() => { inFlight.delete(task) })
        inFlight.add(task)
      }
    }
    await Promise.all(inFlight)
    return { activated, errors, startedAt, endedAt, receives: receiveTimes.length, emptyReceives, receiveLatency: summarize(receiveTimes) }
  }
)
