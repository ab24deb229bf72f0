/**
 * The worker's typed events (worker.ts `WorkerEvents`) out of its process:
 * when a parent started it with an IPC channel (bench, soak), main.ts forwards
 * every event over it in the format @codegate/shared/worker-events owns (the
 * parents decode with its decodeWorkerEvents).
 *
 * Batched: the events of one turn of the event loop go in one message, and at
 * most one message is on its way at a time. While it is, new events wait, up
 * to MAX_PENDING; past that they are counted as `lost` in the next message
 * instead of growing the worker's memory (process.send is asynchronous and a
 * flood announces thousands of events a second). Without a connected channel
 * nothing is kept.
 */
import { withoutCodes } from '@codegate/shared/message'
import { errorRecord, WORKER_EVENT_NAMES, WORKER_EVENTS_MESSAGE, type WorkerEventName, type WorkerEventRecord, type WorkerEventsMessage } from '@codegate/shared/worker-events'
import type { Worker, WorkerEvents } from './worker.js'

/** Events waiting while a message is on its way; beyond, they are counted as lost. */
export const MAX_PENDING = 10_000

/** One of the worker's events as a record; `at` defaults to now. */
export function encodeEvent<E extends WorkerEventName> (name: E, args: WorkerEvents[E], at = Date.now()): WorkerEventRecord {
  // `closed` and `started` carry nothing; every other event one object.
  const [payload] = args as unknown as [unknown]
  switch (name) {
    case 'failed': {
      const { error, ...rest } = payload as WorkerEvents['failed'][0]
      return { name, at, ...rest, error: errorRecord(error) }
    }
    case 'poisoned': {
      const p = payload as WorkerEvents['poisoned'][0]
      // lifecycle.ts scrubs reasons already; a second pass costs little on a rare event.
      return { name, at, ...p, reason: withoutCodes(p.reason) }
    }
    default:
      return { name, at, ...(payload as object | undefined) } as WorkerEventRecord
  }
}

/** Where the records go: main.ts adapts `process` to this. */
export interface EventChannel {
  readonly connected: boolean
  /** Sends one message; `done` once it was handed to the OS (or failed). */
  send: (message: WorkerEventsMessage, done: (err: Error | null) => void) => void
}

export interface EventForwarder {
  /** Resolves once every event announced so far was sent (or could not be). */
  flush: () => Promise<void>
  /** Stops listening to the worker. */
  detach: () => void
}

/** Forwards each of `worker`'s events over `channel`, batched and bounded (see the module comment). */
export function forwardEvents (worker: Worker, channel: EventChannel, maxPending = MAX_PENDING): EventForwarder {
  let pending: WorkerEventRecord[] = []
  let lost = 0
  let sending = false
  let scheduled = false
  let idle: (() => void)[] = []

  const settle = (): void => {
    if (sending || scheduled || pending.length > 0 || lost > 0) return
    const waiting = idle
    idle = []
    for (const resolve of waiting) resolve()
  }
  const send = (): void => {
    scheduled = false
    if (!channel.connected) {
      pending = []
      lost = 0
      settle()
      return
    }
    if (sending || (pending.length === 0 && lost === 0)) { settle(); return }
    const message: WorkerEventsMessage = { type: WORKER_EVENTS_MESSAGE, events: pending, lost }
    pending = []
    lost = 0
    sending = true
    try {
      channel.send(message, () => {
        sending = false
        if (pending.length > 0 || lost > 0) schedule()
        else settle()
      })
    } catch {
      // The channel closed between the check and the send: nobody is listening any more.
      sending = false
      settle()
    }
  }
  const schedule = (): void => {
    if (scheduled) return
    scheduled = true
    setImmediate(send)
  }

  const listeners = WORKER_EVENT_NAMES.map((name) => {
    const listener = (...args: unknown[]): void => {
      if (!channel.connected) return
      if (pending.length >= maxPending) lost++
      else pending.push(encodeEvent(name, args as WorkerEvents[typeof name]))
      if (!sending) schedule()
    }
    // Node's typed EventEmitter cannot relate the name to its listener here; encodeEvent's signature checks the pair.
    worker.on(name, listener as never)
    return () => { worker.off(name, listener as never) }
  })

  return {
    flush: async () => {
      await new Promise<void>((resolve) => {
        idle.push(resolve)
        if (!sending) schedule()
      })
    },
    detach: () => { for (const off of listeners) off() }
  }
}
