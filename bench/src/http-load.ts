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

export async function runBuiltin (request: LoadRequest): Promise<LoadResult> {
  const url = new URL(request.url)
  const method = request.method ?? 'GET'
  const body = request.body !== undefined ? Buffer.from(request.body) : undefined
  const extra = Object.entries(request.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  const head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n${extra}` +
    (body !== undefined ? `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` : '') + '\r\n'
  const wire = body !== undefined ? Buffer.concat([Buffer.from(head), body]) : Buffer.from(head)

  const start = performance.now()
  const measureFrom = start + request.warmupMs
  const measureTo = measureFrom + request.durationMs
  const latencies: number[] = []
  const statuses: Record<string, number> = {}
  let ok = 0
  let errors = 0
  let stop = false

  // Counted by completion time, as autocannon does: an answer belongs to the window it arrives in.
  const record = (status: number, sentAt: number, now: number): void => {
    if (now < measureFrom || now > measureTo) return
    statuses[status] = (statuses[status] ?? 0) + 1
    if (status >= 200 && status < 300) {
      ok++
      latencies.push(now - sentAt)
    } else {
      errors++
    }
  }

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
          const parsed = parseResponse(buf)
          if (parsed === undefined) return
          buf = buf.subarray(parsed.length)
          record(parsed.status, sentAt, performance.now())
          next()
        })
        let failed = false
        socket.on('error', () => {
          failed = true
          const now = performance.now()
          if (now >= measureFrom && now <= measureTo) errors++
        })
        // The server closed (or we did): reconnect unless the run is over, not in a tight loop after an error.
        socket.on('close', () => { if (failed) setTimeout(resolve, 20); else resolve() })
      })
    }
  }

  const timer = setTimeout(() => { stop = true }, request.warmupMs + request.durationMs + 50)
  await Promise.all(Array.from({ length: request.connections }, runConnection))
  clearTimeout(timer)
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
