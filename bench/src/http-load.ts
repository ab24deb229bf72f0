/**
 * A closed-loop HTTP/1.1 load generator: `connections` keep-alive sockets,
 * one request in flight on each (autocannon's model with pipelining 1). It
 * writes a prepared request and reads only the status line and the framing
 * headers, so the client costs far less CPU than the server it measures:
 * on two cores, whatever the client burns is taken from the server.
 */
import { connect, type Socket } from 'node:net'
import { summarize, round, type LatencySummary } from './stats.js'

export interface LoadRequest {
  url: string
  connections: number
  durationMs: number
  /** Load first for this long, unmeasured (JIT, connection setup, caches). */
  warmupMs: number
  method?: 'GET' | 'POST'
  /** JSON body for POST. */
  body?: string
  /** More request headers, e.g. authorization. */
  headers?: Record<string, string>
}

export interface LoadResult {
  driver: 'builtin' | 'autocannon'
  connections: number
  durationMs: number
  /** 2xx answers completed inside the measured window. */
  ok: number
  /** Other answers and socket errors in the window. */
  errors: number
  statuses: Record<string, number>
  /** 2xx answers per second. */
  rps: number
  latency: LatencySummary
}

const CRLF2 = Buffer.from('\r\n\r\n')

interface Parsed { status: number, length: number }

/** Status and total length (head + body) of the response at the start of `buf`, if all of it is there. */
export function parseResponse (buf: Buffer): Parsed | undefined {
  const headEnd = buf.indexOf(CRLF2)
  if (headEnd < 0) return undefined
  const head = buf.toString('latin1', 0, headEnd)
  const status = Number(head.slice(9, 12))
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head)
  if (cl !== null) {
    const length = headEnd + 4 + Number(cl[1])
    return buf.length >= length ? { status, length } : undefined
  }
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const end = buf.indexOf('\r\n0\r\n\r\n', headEnd + 4 - 2)
    return end < 0 ? undefined : { status, length: end + 7 }
  }
  // No body (204, 304) or a close-delimited one, which keep-alive servers do not send.
  return { status, length: headEnd + 4 }
}

/** One answer, as the closed loop sees it. */
export interface LoopAnswer {
  status: number
  /** Request written → answer read, ms. */
  latencyMs: number
  /** Inside the measured window: answers count by the time they arrive, as autocannon counts them. */
  measured: boolean
  /** The answer's first 2 KiB (latin1): its head, for headers such as Retry-After. */
  head: () => string
}

/** The request's bytes, written as they are on every turn of the loop. */
function wireOf (request: LoadRequest): Buffer {
  const url = new URL(request.url)
  const body = request.body !== undefined ? Buffer.from(request.body) : undefined
  const extra = Object.entries(request.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  const head = `${request.method ?? 'GET'} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n${extra}` +
    (body !== undefined ? `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` : '') + '\r\n'
  return body !== undefined ? Buffer.concat([Buffer.from(head), body]) : Buffer.from(head)
}

export interface ClosedLoop extends LoadRequest {
  /** Each answer; a number back holds that connection's next request for so many ms. */
  onAnswer: (answer: LoopAnswer) => number | undefined
  /** A socket error or a connection the server closed; `measured` as for answers. */
  onSocketError: (measured: boolean) => void
}

/**
 * The loop itself: `connections` keep-alive sockets, each writing the request
 * again as soon as its answer is in (or once onAnswer's delay has passed),
 * reconnecting when the server closes, until the measured window ends.
 * Gives the count of the measured answers by status.
 */
export async function runClosedLoop (loop: ClosedLoop): Promise<Record<string, number>> {
  const url = new URL(loop.url)
  const wire = wireOf(loop)
  const measureFrom = performance.now() + loop.warmupMs
  const measureTo = measureFrom + loop.durationMs
  const measured = (now: number): boolean => now >= measureFrom && now <= measureTo
  const statuses: Record<string, number> = {}
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
            if (measured(now)) statuses[parsed.status] = (statuses[parsed.status] ?? 0) + 1
            const answer = buf
            const delayMs = loop.onAnswer({
              status: parsed.status,
              latencyMs: now - sentAt,
              measured: measured(now),
              head: () => answer.toString('latin1', 0, Math.min(parsed.length, 2048))
            })
            buf = buf.subarray(parsed.length)
            if (delayMs !== undefined) setTimeout(next, delayMs)
            else next()
            if (buf.length === 0) return
          }
        })
        let failed = false
        socket.on('error', () => {
          failed = true
          loop.onSocketError(measured(performance.now()))
        })
        // The server closed (or we did): reconnect unless the run is over, not in a tight loop after an error.
        socket.on('close', () => { if (failed) setTimeout(resolve, 20); else resolve() })
      })
    }
  }

  const timer = setTimeout(() => { stop = true }, loop.warmupMs + loop.durationMs + 50)
  await Promise.all(Array.from({ length: loop.connections }, runConnection))
  clearTimeout(timer)
  return statuses
}

export async function runBuiltin (request: LoadRequest): Promise<LoadResult> {
  const latencies: number[] = []
  let ok = 0
  let errors = 0
  const statuses = await runClosedLoop({
    ...request,
    onAnswer: ({ status, latencyMs, measured }) => {
      if (!measured) return undefined
      if (status >= 200 && status < 300) {
        ok++
        latencies.push(latencyMs)
      } else {
        errors++
      }
      return undefined
    },
    onSocketError: (measured) => { if (measured) errors++ }
  })
  return {
    driver: 'builtin',
    connections: request.connections,
    durationMs: request.durationMs,
    ok,
    errors,
    statuses,
    rps: round(ok / (request.durationMs / 1000), 1),
    latency: summarize(latencies)
  }
}

/** The same run with autocannon, when it is installed (it is an optional dependency of the bench). */
export async function runAutocannon (request: LoadRequest): Promise<LoadResult> {
  const { default: autocannon } = await import('autocannon')
  const options = {
    url: request.url,
    connections: request.connections,
    pipelining: 1,
    method: request.method ?? 'GET',
    headers: { ...request.headers, ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(request.body !== undefined ? { body: request.body } : {})
  }
  if (request.warmupMs > 0) await autocannon({ ...options, duration: request.warmupMs / 1000 })
  const result = await autocannon({ ...options, duration: request.durationMs / 1000 })
  const statuses: Record<string, number> = {}
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[status] = stat.count ?? 0
  const ok = result['2xx']
  return {
    driver: 'autocannon',
    connections: request.connections,
    durationMs: Math.round(result.duration * 1000),
    ok,
    errors: result.non2xx + result.errors,
    statuses,
    rps: round(ok / result.duration, 1),
    latency: {
      count: result.latency.total,
      mean: round(result.latency.mean),
      p50: round(result.latency.p50),
      p90: round(result.latency.p90),
      p99: round(result.latency.p99),
      max: round(result.latency.max)
    }
  }
}

/** Whether autocannon can be loaded here. */
export async function hasAutocannon (): Promise<boolean> {
  try {
    await import('autocannon')
    return true
  } catch {
    return false
  }
}
