/**
 * The closed-loop load of http-load.ts, told apart by answer: latency of the
 * 200s and of the 503s separately, and whether every 503 carried Retry-After.
 * Each connection sends its next request as soon as the answer is in, a 503
 * included (`clients: 'impatient'`: the worst case for shedding, a load test
 * or a client that ignores Retry-After), or, after a 503, only once its
 * Retry-After has passed (`'polite'`: what HTTP asks of a client).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { runClosedLoop } from './http-load.js'
import { round, summarize, type LatencySummary } from './stats.js'

export interface StatusLoadRequest {
  url: string
  connections: number
  durationMs: number
  warmupMs: number
  clients: 'impatient' | 'polite'
  /** More request headers, e.g. the caller's authorization. */
  headers?: Record<string, string>
}

export interface StatusLoadResult {
  clients: StatusLoadRequest['clients']
  connections: number
  durationMs: number
  statuses: Record<string, number>
  /** 200s per second in the measured window. */
  okPerSecond: number
  ok: LatencySummary
  /** Latency of the 503 answers. */
  shed: LatencySummary
  /** 503 answers that had a Retry-After header. */
  shedWithRetryAfter: number
  /** Socket errors and connections closed by the server. */
  socketErrors: number
  /**
   * The load generator's own event-loop delay, p99 in ms: an answer is timed
   * when this process reads it, so a busy client adds up to this much to
   * every latency above (it shares the machine with the api).
   */
  clientLoopDelayP99Ms: number
}

const RETRY_AFTER = /\r\nretry-after:\s*(\d+)/i

export async function runStatusLoad (request: StatusLoadRequest): Promise<StatusLoadResult> {
  const ok: number[] = []
  const shed: number[] = []
  let shedWithRetryAfter = 0
  let socketErrors = 0
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()
  const statuses = await runClosedLoop({
    ...request,
    onAnswer: ({ status, latencyMs, measured, head }) => {
      const retryAfter = status === 503 ? RETRY_AFTER.exec(head())?.[1] : undefined
      if (measured) {
        if (status === 200) ok.push(latencyMs)
        if (status === 503) {
          shed.push(latencyMs)
          if (retryAfter !== undefined) shedWithRetryAfter++
        }
      }
      return request.clients === 'polite' && retryAfter !== undefined ? Number(retryAfter) * 1000 : undefined
    },
    onSocketError: (measured) => { if (measured) socketErrors++ }
  })
  loopDelay.disable()
  return {
    clients: request.clients,
    connections: request.connections,
    durationMs: request.durationMs,
    statuses,
    okPerSecond: round(ok.length / (request.durationMs / 1000), 1),
    ok: summarize(ok),
    shed: summarize(shed),
    shedWithRetryAfter,
    socketErrors,
    clientLoopDelayP99Ms: round(loopDelay.percentile(99) / 1e6, 1)
  }
}
