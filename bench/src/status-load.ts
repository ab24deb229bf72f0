/**
 * The closed-loop load of http-load.ts, told apart by answer: latency of the
 * 200s and of the 503s separately, and whether every 503 carried Retry-After.
 * Each connection sends its next request as soon as the answer is in, a 503
 * included (`clients: 'impatient'`: the worst case for shedding, a load test
 * or a client that ignores Retry-After), or, after a 503, only once its
 * Retry-After has passed (`'polite'`: what HTTP asks of a client).
 */
import { connect, type Socket } from 'node:net'
import { parseResponse } from './http-load.js'
import { round, summarize, type LatencySummary } from './stats.js'

export interface StatusLoadRequest {
  url: string
  connections: number
  durationMs: number
  warmupMs: number
  clients: 'impatient' | 'polite'
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
}

const RETRY_AFTER = /\r\nretry-after:\s*(\d+)/i

export async function runStatusLoad (request: StatusLoadRequest): Promise<StatusLoadResult> {
  const url = new URL(request.url)
  const wire = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n\r\n`)
  const start = performance.now()
  const measureFrom = start + request.warmupMs
  const measureTo = measureFrom + request.durationMs
  const ok: number[] = []
  const shed: number[] = []
  const statuses: Record<string, number> = {}
  let shedWithRetryAfter = 0
  let socketErrors = 0
  let stop = false

  const runConnection = async (): Promise<void> => {
    while (!stop) {
      await new Promise<void>((resolve) => {
        const socket: Socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true })
        let buf: Buffer = Buffer.alloc(0)
        let sentAt = 0
        const next = (): void => {
          if (stop || performance.now() >= measureTo) { stop = true; socket.destroy(); return }
          sentAt = performance.now()
          socket.write(wire)
        }
        socket.on('connect', next)
        socket.on('data', (chunk: Buffer) => {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
          for (;;) {
            const parsed = parseResponse(buf)
            if (parsed === undefined) return
            const now = performance.now()
            const retryAfter = parsed.status === 503 ? RETRY_AFTER.exec(buf.toString('latin1', 0, Math.min(parsed.length, 2048)))?.[1] : undefined
            if (now >= measureFrom && now <= measureTo) {
              statuses[parsed.status] = (statuses[parsed.status] ?? 0) + 1
              if (parsed.status === 200) ok.push(now - sentAt)
              if (parsed.status === 503) {
                shed.push(now - sentAt)
                if (retryAfter !== undefined) shedWithRetryAfter++
              }
            }
            buf = buf.subarray(parsed.length)
            if (request.clients === 'polite' && retryAfter !== undefined) setTimeout(next, Number(retryAfter) * 1000)
            else next()
            if (buf.length === 0) return
          }
        })
        let failed = false
        socket.on('error', () => {
          failed = true
          const now = performance.now()
          if (now >= measureFrom && now <= measureTo) socketErrors++
        })
        socket.on('close', () => { if (failed) setTimeout(resolve, 20); else resolve() })
      })
    }
  }

  const timer = setTimeout(() => { stop = true }, request.warmupMs + request.durationMs + 50)
  await Promise.all(Array.from({ length: request.connections }, runConnection))
  clearTimeout(timer)
  return {
    clients: request.clients,
    connections: request.connections,
    durationMs: request.durationMs,
    statuses,
    okPerSecond: round(ok.length / (request.durationMs / 1000), 1),
    ok: summarize(ok),
    shed: summarize(shed),
    shedWithRetryAfter,
    socketErrors
  }
}
