/**
 * What tracing and OpenTelemetry metrics cost getcode: the same api three
 * times, side by side in one run: without an exporter (as `npm start` runs
 * it), with OTEL_EXPORTER_OTLP_ENDPOINT set and every trace kept
 * (TRACES_SAMPLE_RATIO=1, the default), and as infra/deploy.sh runs it
 * (0.05). The exporters send to a sink on loopback that reads and drops what
 * it is sent, so the figure is the api's own cost, not a collector's.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createQueues } from '@codegate/shared/clients'
import { forkChild } from '../child.js'
import type { Driver } from '../children/load.js'
import type { LoadRequest, LoadResult } from '../http-load.js'
import { ratio, type LatencySummary } from '../stats.js'
import { startSystem, storageConfig, type Env } from '../system.js'

export type TracingTarget = 'off' | 'sampled-all' | 'sampled-5%'

export interface TracingRun {
  target: TracingTarget
  concurrency: number
  rps: number
  errors: number
  latency: LatencySummary
}

export interface TracingFigures {
  runs: TracingRun[]
  /** Best rps of each target at each concurrency, and its ratio to `off` at the same concurrency. */
  byConcurrency: { concurrency: number, off: number, sampledAll: number, sampled5: number, ratioAll: number, ratio5: number }[]
  /** Best of each target over every concurrency ÷ best of `off`. */
  ratioAll: number
  ratio5: number
  /** What the sink received from the traced apis: proof that tracing was on. */
  exported: { traceRequests: number, metricRequests: number, bytes: number }
  target: number
  met: boolean
}

export interface TracingOptions {
  /** The CLI's process.env, which the processes inherit. */
  baseEnv: Env
  driver: Driver
  nodeFlags: string[]
  concurrencies: number[]
  repeats: number
  durationMs: number
  warmupMs: number
  log: (line: string) => void
}

const SAMPLE_RATIOS: Record<Exclude<TracingTarget, 'off'>, string> = { 'sampled-all': '1', 'sampled-5%': '0.05' }

/** Best rps per target and concurrency, and the ratios the figure reports. */
export function tracingFigures (runs: TracingRun[], concurrencies: number[], exported: TracingFigures['exported']): TracingFigures {
  const best = (target: TracingTarget, concurrency?: number): number =>
    Math.max(0, ...runs.filter((r) => r.target === target && (concurrency === undefined || r.concurrency === concurrency)).map((r) => r.rps))
  const ratioAll = ratio(best('sampled-all'), best('off'))
  const ratio5 = ratio(best('sampled-5%'), best('off'))
  return {
    runs,
    byConcurrency: concurrencies.map((concurrency) => {
      const off = best('off', concurrency)
      const sampledAll = best('sampled-all', concurrency)
      const sampled5 = best('sampled-5%', concurrency)
      return { concurrency, off, sampledAll, sampled5, ratioAll: ratio(sampledAll, off), ratio5: ratio(sampled5, off) }
    }),
    ratioAll,
    ratio5,
    exported,
    target: 0.95,
    met: ratioAll >= 0.95
  }
}

/** An OTLP/HTTP endpoint that answers 200 to everything and keeps only counts. */
async function startSink (): Promise<{ url: string, exported: TracingFigures['exported'], close: () => Promise<void> }> {
  const exported = { traceRequests: 0, metricRequests: 0, bytes: 0 }
  const server: Server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => { exported.bytes += chunk.length })
    req.on('end', () => {
      if (req.url === '/v1/traces') exported.traceRequests++
      if (req.url === '/v1/metrics') exported.metricRequests++
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    exported,
    close: async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) }
  }
}

export async function runTracing (options: TracingOptions): Promise<TracingFigures> {
  const sink = await startSink()
  const bench = await startSystem({ baseEnv: options.baseEnv, workers: 0, ttlSeconds: 600, nodeFlags: options.nodeFlags })
  try {
    const loader = await forkChild<LoadRequest & { driver: Driver }, LoadResult>('load', { baseEnv: options.baseEnv })
    try {
      const urls: Record<TracingTarget, string> = { off: bench.apiUrl, 'sampled-all': '', 'sampled-5%': '' }
      for (const target of ['sampled-all', 'sampled-5%'] as const) {
        // Metrics go out every 60 s, as deployed: a traced api exports them about once over the whole run.
        const traced = await bench.addApi(`api-${target}`, options.nodeFlags, {
          OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
          TRACES_SAMPLE_RATIO: SAMPLE_RATIOS[target]
        })
        urls[target] = traced.url
      }
      const { queue } = createQueues(storageConfig(bench.connectionString))
      const runs: TracingRun[] = []
      for (const concurrency of options.concurrencies) {
        for (let repeat = 0; repeat < options.repeats; repeat++) {
          // Alternating the order, so a change in the machine's load hits every target alike; the best run counts.
          const order: TracingTarget[] = repeat % 2 === 0 ? ['off', 'sampled-all', 'sampled-5%'] : ['sampled-5%', 'sampled-all', 'off']
          for (const target of order) {
            await queue.clearMessages()
            const result = await loader.call({
              url: `${urls[target]}/api/v1/getcode`,
              connections: concurrency,
              durationMs: options.durationMs,
              warmupMs: options.warmupMs,
              driver: options.driver,
              headers: { authorization: `Bearer ${bench.caller.issueToken}` }
            }, options.warmupMs + options.durationMs + 60_000)
            const run: TracingRun = { target, concurrency, rps: result.rps, errors: result.errors, latency: result.latency }
            runs.push(run)
            options.log(`tracing  ${target.padEnd(11)} c=${String(concurrency).padStart(3)}  ${String(run.rps).padStart(8)}/s  p50 ${run.latency.p50} ms  p99 ${run.latency.p99} ms  errors ${run.errors}`)
          }
        }
      }
      return tracingFigures(runs, options.concurrencies, { ...sink.exported })
    } finally {
      await loader.stop()
    }
  } finally {
    await bench.stop()
    await sink.close()
  }
}
