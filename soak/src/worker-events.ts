/**
 * What the workers did, from their typed events: each worker is started with
 * an IPC channel (startLocalSystem's onWorkerMessage) over which it sends them
 * (@codegate/shared/worker-events). Nothing here reads a log line; logs.ts
 * still scans every line for secrets and codes.
 */
import { decodeWorkerEvents, type WorkerEventRecord } from '@codegate/shared/worker-events'

/** One event about one message, and the worker process that announced it. */
export type WorkerEvent = Extract<WorkerEventRecord, { messageId: string }> & { process: string }

export interface WorkerEventSummary {
  /** Every event about a message (activated, expired, requeued, dropped, poisoned, failed), in arrival order. */
  events: WorkerEvent[]
  /** Receives per process (empty ones included): kept as counts, there are thousands. */
  receives: Record<string, number>
  /** Events a worker left out because the soak read its channel too slowly: the checks are incomplete if any. */
  lost: number
  /** Messages that were not valid event messages, with decodeWorkerEvents' reason (first few). */
  rejected: { process: string, reason: string }[]
  rejectedCount: number
}

const KEEP_REJECTED = 20

export class WorkerEventWatch {
  readonly #events: WorkerEvent[] = []
  readonly #receives: Record<string, number> = {}
  readonly #rejected: { process: string, reason: string }[] = []
  #rejectedCount = 0
  #lost = 0
  readonly #listeners = new Set<(e: WorkerEvent) => void>()

  /** One IPC message from worker process `name` (startLocalSystem's onWorkerMessage). */
  message (name: string, message: unknown): void {
    const decoded = decodeWorkerEvents(message)
    if (!decoded.ok) {
      this.#rejectedCount++
      if (this.#rejected.length < KEEP_REJECTED) this.#rejected.push({ process: name, reason: decoded.reason })
      return
    }
    this.#lost += decoded.message.lost
    for (const record of decoded.message.events) {
      if (record.name === 'received') this.#receives[name] = (this.#receives[name] ?? 0) + 1
      if (!('messageId' in record)) continue
      const e: WorkerEvent = { ...record, process: name }
      this.#events.push(e)
      for (const listener of this.#listeners) listener(e)
    }
  }

  /** Resolves true at the next event matching `match`, false after `timeoutMs`. */
  async nextEvent (match: (e: WorkerEvent) => boolean, timeoutMs: number): Promise<boolean> {
    return await new Promise<boolean>((resolve) => {
      const done = (seen: boolean): void => {
        clearTimeout(timer)
        this.#listeners.delete(listener)
        resolve(seen)
      }
      const listener = (e: WorkerEvent): void => { if (match(e)) done(true) }
      const timer = setTimeout(() => { done(false) }, timeoutMs)
      this.#listeners.add(listener)
    })
  }

  summary (): WorkerEventSummary {
    return {
      events: [...this.#events],
      receives: { ...this.#receives },
      lost: this.#lost,
      rejected: [...this.#rejected],
      rejectedCount: this.#rejectedCount
    }
  }
}
