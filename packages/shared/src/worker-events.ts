/**
 * The wire format of the worker's typed events (services/worker/src/worker.ts
 * `WorkerEvents`) as they leave its process: a worker started with an IPC
 * channel (bench, soak) sends them to its parent
 * (services/worker/src/event-channel.ts), and the parent decodes them here,
 * so tools learn what the worker did without parsing its log lines. Here
 * because both sides use it, and bench and soak import no service.
 *
 * JSON-safe and small: a failure's error is reduced to name, message and
 * code, with any code in clear scrubbed (withoutCodes) and bounded in length;
 * events name a queue message, never a code, its hash or a key.
 */
import type { PoisonCause } from './lifecycle.js'
import { withoutCodes } from './message.js'

/** The `type` of every message this channel carries. */
export const WORKER_EVENTS_MESSAGE = 'worker.events'

/** Longest error message forwarded; the log line has the whole error. */
export const MAX_ERROR_MESSAGE_LENGTH = 500

/** A failure's error as it crosses the channel. */
export interface EventError {
  name: string
  message: string
  code?: string
}

interface Ref { messageId: string, dequeueCount: number }

/** One event as it crosses the channel; `at` is the worker's clock (epoch ms) when it happened. */
export type WorkerEventRecord =
  | { name: 'started', at: number }
  | { name: 'activated', at: number } & Ref & { inserted: boolean, lagMs: number, lost: boolean }
  | { name: 'expired', at: number } & Ref & { result: 'deleted' | 'absent' | 'newer', lateMs: number, lost: boolean }
  | { name: 'requeued', at: number } & Ref & { visibilitySeconds: number, lost: boolean }
  | { name: 'dropped', at: number } & Ref & { reason: 'late', lost: boolean }
  | { name: 'poisoned', at: number } & Ref & { cause: PoisonCause, reason: string }
  | { name: 'failed', at: number } & Ref & { attempt: number, error: EventError }
  | { name: 'received', at: number, queue: string, count: number }
  | { name: 'closed', at: number }

export type WorkerEventName = WorkerEventRecord['name']

/** The one message the worker sends its parent. */
export interface WorkerEventsMessage {
  type: typeof WORKER_EVENTS_MESSAGE
  events: WorkerEventRecord[]
  /** Events left out since the previous message because the parent read too slowly. */
  lost: number
}

/** Every event the worker announces, in the order of WorkerEvents. */
export const WORKER_EVENT_NAMES: readonly WorkerEventName[] = ['started', 'activated', 'expired', 'requeued', 'dropped', 'poisoned', 'failed', 'received', 'closed']

/** The error of a `failed` event, safe to send: no stack, no code in clear, bounded. */
export function errorRecord (err: unknown): EventError {
  const name = err instanceof Error ? err.name : typeof err
  const raw = err instanceof Error ? err.message : String(err)
  const message = withoutCodes(raw.length > MAX_ERROR_MESSAGE_LENGTH ? `${raw.slice(0, MAX_ERROR_MESSAGE_LENGTH)}…` : raw)
  const code = (err as { code?: unknown } | null)?.code
  return { name, message, ...(typeof code === 'string' ? { code: withoutCodes(code) } : {}) }
}

export type Decoded =
  | { ok: true, message: WorkerEventsMessage }
  | { ok: false, reason: string }

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isText = (v: unknown, max = 1000): v is string => typeof v === 'string' && v.length <= max

/** What is wrong with one record, or undefined when it is a valid one. */
function recordProblem (e: unknown): string | undefined {
  if (!isObject(e)) return 'an event is not an object'
  const name = e.name
  if (typeof name !== 'string' || !(WORKER_EVENT_NAMES as readonly string[]).includes(name)) return `unknown event name ${JSON.stringify(name)?.slice(0, 40) ?? 'undefined'}`
  if (!isNumber(e.at)) return `${name}: at is not a time`
  const ref = (): string | undefined => isText(e.messageId, 200) && isCount(e.dequeueCount) ? undefined : `${name}: no message id or dequeue count`
  const flag = (key: string): string | undefined => typeof e[key] === 'boolean' ? undefined : `${name}: ${key} is not a boolean`
  const num = (key: string): string | undefined => isNumber(e[key]) ? undefined : `${name}: ${key} is not a number`
  const oneOf = (key: string, values: readonly string[]): string | undefined => values.includes(e[key] as string) ? undefined : `${name}: ${key} is not one of ${values.join(', ')}`
  switch (name) {
    case 'activated': return ref() ?? flag('inserted') ?? num('lagMs') ?? flag('lost')
    case 'expired': return ref() ?? oneOf('result', ['deleted', 'absent', 'newer']) ?? num('lateMs') ?? flag('lost')
    case 'requeued': return ref() ?? num('visibilitySeconds') ?? flag('lost')
    case 'dropped': return ref() ?? oneOf('reason', ['late']) ?? flag('lost')
    case 'poisoned': return ref() ?? oneOf('cause', ['unreadable', 'implausible', 'exhausted']) ?? (isText(e.reason, 10_000) ? undefined : 'poisoned: reason is not text')
    case 'failed': {
      const error = e.error
      const errorOk = isObject(error) && isText(error.name, 200) && isText(error.message, MAX_ERROR_MESSAGE_LENGTH + 1_000) && (error.code === undefined || isText(error.code, 200))
      return ref() ?? (isCount(e.attempt) ? undefined : 'failed: attempt is not a count') ?? (errorOk ? undefined : 'failed: error is not { name, message, code? }')
    }
    case 'received': return isText(e.queue, 200) && isCount(e.count) ? undefined : 'received: no queue or count'
    default: return undefined
  }
}

/**
 * A message from a worker's IPC channel, checked field by field: anything else
 * (another kind of message, a damaged or hostile one) is refused with a reason
 * instead of reaching a parent's counters.
 */
export function decodeWorkerEvents (message: unknown): Decoded {
  if (!isObject(message)) return { ok: false, reason: 'not an object' }
  if (message.type !== WORKER_EVENTS_MESSAGE) return { ok: false, reason: `type is not ${WORKER_EVENTS_MESSAGE}` }
  if (!Array.isArray(message.events)) return { ok: false, reason: 'events is not a list' }
  if (!isCount(message.lost)) return { ok: false, reason: 'lost is not a count' }
  for (const e of message.events as unknown[]) {
    const problem = recordProblem(e)
    if (problem !== undefined) return { ok: false, reason: problem }
  }
  return { ok: true, message: message as unknown as WorkerEventsMessage }
}
