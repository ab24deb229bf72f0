/**
 * A small OTLP/HTTP receiver of traces and metrics (JSON encoding, what
 * @opentelemetry/exporter-{trace,metrics}-otlp-http send) on 127.0.0.1: it
 * keeps the spans and metric points it is sent, flattened, so tests and `npm run trace` can look at one
 * code's trace without a collector or Azure. `TRACE=1 npm start` runs one
 * and appends what it receives to a spans file (spansFile) that
 * `npm run trace` reads.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

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

/** One data point of an OTLP metric: a sum's or gauge's value, a histogram's count and sum. */
export interface ReceivedMetricPoint {
  service: string
  name: string
  attributes: Record<string, unknown>
  /** Sum or gauge value; a histogram's sum. */
  value: number
  /** Histograms: how many values were recorded. */
  count?: number
  timeNs: bigint
}

export interface OtlpReceiver {
  /** Base URL: what OTEL_EXPORTER_OTLP_ENDPOINT is set to. */
  url: string
  readonly spans: ReceivedSpan[]
  /** Every metric data point received (/v1/metrics), in arrival order: the last of a series is its newest. */
  readonly metrics: ReceivedMetricPoint[]
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

/** The service.name of an export's resource (traces and metrics alike). */
const serviceOf = (resource: { attributes?: KeyValue[] } | undefined): string =>
  String(attributesOf(resource?.attributes)['service.name'] ?? 'unknown')

/** Spans of one export request, flattened. */
export function flattenExport (body: ExportRequest): ReceivedSpan[] {
  const out: ReceivedSpan[] = []
  for (const rs of body.resourceSpans ?? []) {
    const service = serviceOf(rs.resource)
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

interface NumberPoint { attributes?: KeyValue[], asInt?: string | number, asDouble?: number, count?: string | number, sum?: number, timeUnixNano?: string | number }
interface MetricsRequest {
  resourceMetrics?: Array<{
    resource?: { attributes?: KeyValue[] }
    scopeMetrics?: Array<{ metrics?: Array<{ name: string, sum?: { dataPoints?: NumberPoint[] }, gauge?: { dataPoints?: NumberPoint[] }, histogram?: { dataPoints?: NumberPoint[] } }> }>
  }>
}

/** Data points of one metrics export request, flattened. */
export function flattenMetrics (body: MetricsRequest): ReceivedMetricPoint[] {
  const out: ReceivedMetricPoint[] = []
  for (const rm of body.resourceMetrics ?? []) {
    const service = serviceOf(rm.resource)
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        for (const p of [...(m.sum?.dataPoints ?? []), ...(m.gauge?.dataPoints ?? [])]) {
          out.push({ service, name: m.name, attributes: attributesOf(p.attributes), value: Number(p.asInt ?? p.asDouble ?? 0), timeNs: BigInt(p.timeUnixNano ?? 0) })
        }
        for (const p of m.histogram?.dataPoints ?? []) {
          out.push({ service, name: m.name, attributes: attributesOf(p.attributes), value: p.sum ?? 0, count: Number(p.count ?? 0), timeNs: BigInt(p.timeUnixNano ?? 0) })
        }
      }
    }
  }
  return out
}

/** Largest export accepted; the SDK's batches are far smaller. */
const MAX_BODY_BYTES = 8 * 1024 * 1024

export async function startOtlpReceiver (port = 0, onSpans?: (spans: ReceivedSpan[]) => void): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const metrics: ReceivedMetricPoint[] = []
  const server: Server = createServer((req, res) => {
    const path = req.url?.split('?')[0]
    if (req.method !== 'POST' || (path !== '/v1/traces' && path !== '/v1/metrics') || req.headers['content-type']?.startsWith('application/json') !== true) {
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
        const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        if (path === '/v1/metrics') {
          metrics.push(...flattenMetrics(body as MetricsRequest))
        } else {
          const received = flattenExport(body as ExportRequest)
          spans.push(...received)
          onSpans?.(received)
        }
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
    metrics,
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

/** Where `TRACE=1 npm start` keeps the spans it receives, one JSON object a line (`npm run trace` reads it). */
export function spansFile (dataDir: string): string {
  return join(dataDir, 'traces', 'spans.ndjson')
}

/** One span as a line of the spans file; times as decimal strings, JSON having no bigint. */
export function spanLine (span: ReceivedSpan): string {
  return JSON.stringify({ ...span, startNs: String(span.startNs), endNs: String(span.endNs) }) + '\n'
}

/** The spans of a spans file's text; a line that does not parse (a write cut short by a kill) is skipped. */
export function parseSpanLines (text: string): ReceivedSpan[] {
  const spans: ReceivedSpan[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try {
      const s = JSON.parse(line) as Omit<ReceivedSpan, 'startNs' | 'endNs'> & { startNs: string, endNs: string }
      spans.push({ ...s, startNs: BigInt(s.startNs), endNs: BigInt(s.endNs) })
    } catch {
      // skipped
    }
  }
  return spans
}

/** A code the api issued while tracing: its id (codegate.code_id of its enqueue span) and its trace. */
export interface TracedCode {
  codeId: string
  traceId: string
  /** When its enqueue span started. */
  issuedAt: Date
}

/** Every code whose enqueue span is among `spans`, oldest first. */
export function tracedCodes (spans: ReceivedSpan[]): TracedCode[] {
  return spans
    .filter((s) => s.name === 'codegate.enqueue' && typeof s.attributes['codegate.code_id'] === 'string')
    .sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0))
    .map((s) => ({ codeId: s.attributes['codegate.code_id'] as string, traceId: s.traceId, issuedAt: new Date(Number(s.startNs / 1_000_000n)) }))
}
