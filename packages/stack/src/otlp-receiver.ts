/**
 * A small OTLP/HTTP trace receiver (JSON encoding, what
 * @opentelemetry/exporter-trace-otlp-http sends) on 127.0.0.1: it keeps the
 * spans it is sent, flattened, so tests and `npm run trace` can look at one
 * code's trace without a collector or Azure.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ReceivedSpan {
  service: string
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number
  startNs: bigint
  endNs: bigint
  /** 2 = error. */
  status?: number
  attributes: Record<string, unknown>
  links: Array<{ traceId: string, spanId: string }>
}

export interface OtlpReceiver {
  /** Base URL: what OTEL_EXPORTER_OTLP_ENDPOINT is set to. */
  url: string
  readonly spans: ReceivedSpan[]
  close: () => Promise<void>
}

interface AnyValue { stringValue?: string, intValue?: string | number, boolValue?: boolean, doubleValue?: number }
interface KeyValue { key: string, value?: AnyValue }
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind?: number
  startTimeUnixNano?: string | number
  endTimeUnixNano?: string | number
  status?: { code?: number }
  attributes?: KeyValue[]
  links?: Array<{ traceId: string, spanId: string }>
}
interface ExportRequest {
  resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }, scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>
}

const valueOf = (v: AnyValue | undefined): unknown => v?.stringValue ?? v?.intValue ?? v?.boolValue ?? v?.doubleValue
const attributesOf = (list: KeyValue[] | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]))
/** OTLP/JSON carries ids as hex; some exporters send base64. */
const hexId = (id: string | undefined): string | undefined =>
  id === undefined || id === '' ? undefined : /^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex')

/** Spans of one export request, flattened. */
export function flattenExport (body: ExportRequest): ReceivedSpan[] {
  const out: ReceivedSpan[] = []
  for (const rs of body.resourceSpans ?? []) {
    const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? 'unknown')
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const parentSpanId = hexId(s.parentSpanId)
        out.push({
          service,
          traceId: hexId(s.traceId) ?? '',
          spanId: hexId(s.spanId) ?? '',
          ...(parentSpanId !== undefined ? { parentSpanId } : {}),
          name: s.name,
          kind: s.kind ?? 0,
          startNs: BigInt(s.startTimeUnixNano ?? 0),
          endNs: BigInt(s.endTimeUnixNano ?? 0),
          ...(s.status?.code !== undefined ? { status: s.status.code } : {}),
          attributes: attributesOf(s.attributes),
          links: (s.links ?? []).map((l) => ({ traceId: hexId(l.traceId) ?? '', spanId: hexId(l.spanId) ?? '' }))
        })
      }
    }
  }
  return out
}

/** Largest export accepted; the SDK's batches are far smaller. */
const MAX_BODY_BYTES = 8 * 1024 * 1024

export async function startOtlpReceiver (port = 0, onSpans?: (spans: ReceivedSpan[]) => void): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/traces' || req.headers['content-type']?.startsWith('application/json') !== true) {
      res.writeHead(req.method !== 'POST' ? 405 : 415).end()
      req.resume()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) { res.writeHead(413).end(); req.destroy(); return }
      chunks.push(chunk)
    })
    req.on('end', () => {
      try {
        const received = flattenExport(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportRequest)
        spans.push(...received)
        onSpans?.(received)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      } catch {
        res.writeHead(400).end()
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

/**
 * The spans of `traceId` as an indented tree (children under their parent,
 * in start order), with the spans elsewhere that link to it listed after.
 */
export function traceTree (spans: ReceivedSpan[], traceId: string): string {
  const own = spans.filter((s) => s.traceId === traceId).sort((a, b) => (a.startNs < b.startNs ? -1 : 1))
  const t0 = own[0]?.startNs ?? 0n
  const ms = (ns: bigint): string => `${(Number(ns) / 1e6).toFixed(1)} ms`
  const line = (s: ReceivedSpan, depth: number): string =>
    `${'  '.repeat(depth)}${s.name}  [${s.service}]  +${ms(s.startNs - t0)}  ${ms(s.endNs - s.startNs)}${s.status === 2 ? '  ERROR' : ''}`
  const ids = new Set(own.map((s) => s.spanId))
  const lines: string[] = []
  const walk = (parent: string | undefined, depth: number): void => {
    for (const s of own.filter((c) => (parent === undefined ? c.parentSpanId === undefined || !ids.has(c.parentSpanId) : c.parentSpanId === parent))) {
      lines.push(line(s, depth))
      walk(s.spanId, depth + 1)
    }
  }
  walk(undefined, 0)
  for (const s of spans.filter((x) => x.traceId !== traceId && x.links.some((l) => l.traceId === traceId))) {
    lines.push(`linked: ${s.name}  [${s.service}]  +${ms(s.startNs - t0)}  ${ms(s.endNs - s.startNs)}  (trace ${s.traceId.slice(0, 8)}…)`)
  }
  return lines.join('\n')
}
