/**
 * Overload: getcode far past the concurrency where its throughput peaks.
 * First the peak is found (the api with no limits, as before load shedding);
 * then each api configuration under test gets a fresh system and is loaded
 * at 4× and 16× that concurrency, by clients that send again at once, 503
 * or not ("impatient"), and by clients that wait out Retry-After ("polite").
 * Figures: 200s per second against the peak, p99 of the 200s, how fast and
 * how complete the 503s are, the api's peak RSS, and whether it survived.
 */
import { createQueues } from '@codegate/shared/clients'
import { forkChild } from '../child.js'
import { memoryOf } from '../proc.js'
import { ratio } from '../stats.js'
import type { StatusLoadRequest, StatusLoadResult } from '../status-load.js'
import { startSystem, storageConfig, type Env } from '../system.js'

/** The api's limits turned off: today's main behaviour, every request waits its turn. */
export const UNBOUNDED_ENV: Record<string, string> = {
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
  PRESSURE_MAX_HEAP_USED_PERCENT: '0',
  PRESSURE_MAX_EVENT_LOOP_UTILIZATION: '0',
  OUTGOING_MAX_IN_FLIGHT: '1000000000',
  OUTGOING_MAX_WAITING: '0',
  OUTGOING_MAX_WAIT_MS: '0'
}

export interface OverloadConfig {
  name: string
  /** Variables for the api (empty: the defaults of services/api/src/config.ts). */
  env: Record<string, string>
}

export interface OverloadOptions {
  /** The CLI's process.env, which the processes inherit. */
  baseEnv: Env
  /** Concurrencies tried to find the peak. */
  peakConcurrencies: number[]
  /** Multiples of the peak concurrency to load at. */
  multiples: number[]
  clients: StatusLoadRequest['clients'][]
  durationMs: number
  warmupMs: number
  configs: OverloadConfig[]
  nodeFlags: string[]
  log: (line: string) => void
}

export interface OverloadRun {
  config: string
  multiple: number
  clients: StatusLoadRequest['clients']
  result: StatusLoadResult
  /** 200s per second ÷ the peak. */
  okRatio: number
  /** Answers that were neither 200 nor 503 with Retry-After, socket errors included. */
  otherAnswers: number
  met: { throughput: boolean, okP99: boolean, shedFast: boolean, onlyShed: boolean }
}

export interface OverloadConfigResult {
  config: string
  env: Record<string, string>
  runs: OverloadRun[]
  /** VmHWM of the api after its runs (MB). */
  apiPeakRssMb: number | undefined
  apiRestarted: boolean
  met: boolean
}

export interface OverloadFigures {
  nodeFlags: string[]
  durationMs: number
  peak: { concurrency: number, okPerSecond: number, p99: number, tried: { concurrency: number, okPerSecond: number, p99: number }[] }
  configs: OverloadConfigResult[]
  targets: { throughputRatio: number, okP99Ms: number, shedP99Ms: number, rssMb: number }
}

export const TARGETS = { throughputRatio: 0.9, okP99Ms: 500, shedP99Ms: 50, rssMb: 150 }

async function withSystem<T> (baseEnv: Env, apiEnv: Record<string, string>, nodeFlags: string[], body: (run: (request: StatusLoadRequest) => Promise<StatusLoadResult>, api: { pid: number, url: string, running: () => boolean }) => Promise<T>): Promise<T> {
  // LOG_REQUESTS=false as infra/deploy.sh deploys it: no two log lines per request, 503s included.
  const bench = await startSystem({ baseEnv, workers: 0, ttlSeconds: 600, nodeFlags, apiEnv: { LOG_REQUESTS: 'false', ...apiEnv } })
  const loader = await forkChild<StatusLoadRequest, StatusLoadResult>('status-load', { baseEnv })
  const { queue } = createQueues(storageConfig(bench.connectionString))
  // Ctrl-C during a run still stops Azurite and the services.
  const interrupted = (): void => { void Promise.allSettled([loader.stop(), bench.stop()]).finally(() => { process.exit(130) }) }
  process.once('SIGINT', interrupted)
  try {
    const run = async (request: StatusLoadRequest): Promise<StatusLoadResult> => {
      // Each run starts from an empty queue (Azurite's costs grow with stored messages).
      await queue.clearMessages()
      // The api checks callers (AUTH_MODE=entra, as npm start runs it): one token for the whole run, as a caller caches it.
      return await loader.call({ ...request, headers: { authorization: `Bearer ${bench.caller.issueToken}` } }, request.warmupMs + request.durationMs + 120_000)
    }
    return await body(run, { pid: bench.api.pid, url: `${bench.apiUrl}/api/v1/getcode`, running: () => bench.api.running })
  } finally {
    process.off('SIGINT', interrupted)
    await loader.stop()
    await bench.stop()
  }
}

export async function runOverload (options: OverloadOptions): Promise<OverloadFigures> {
  const { durationMs, warmupMs, log } = options

  const tried: OverloadFigures['peak']['tried'] = []
  const statusesSeen: string[] = []
  await withSystem(options.baseEnv, UNBOUNDED_ENV, options.nodeFlags, async (run, api) => {
    for (const connections of options.peakConcurrencies) {
      const result = await run({ url: api.url, connections, durationMs, warmupMs, clients: 'impatient' })
      tried.push({ concurrency: connections, okPerSecond: result.okPerSecond, p99: result.ok.p99 })
      statusesSeen.push(`c=${connections}: ${JSON.stringify(result.statuses)}`)
      log(`overload peak     c=${String(connections).padStart(4)}  ${result.okPerSecond}/s  p99 ${result.ok.p99} ms  ${JSON.stringify(result.statuses)}`)
    }
  })
  const best = tried.reduce((a, b) => (b.okPerSecond > a.okPerSecond ? b : a))
  // No 200 at any concurrency measures nothing (e.g. every answer a 401): stop instead of writing a table of zeros.
  if (best.okPerSecond === 0) throw new Error(`getcode answered no 200 at any concurrency while finding the peak: ${statusesSeen.join('; ')}`)
  const peak = { ...best, tried }

  const configs: OverloadConfigResult[] = []
  for (const config of options.configs) {
    const runs: OverloadRun[] = []
    let apiPeakRssMb: number | undefined
    let apiRestarted = false
    await withSystem(options.baseEnv, config.env, options.nodeFlags, async (run, api) => {
      for (const clients of options.clients) for (const multiple of options.multiples) {
        const connections = multiple * peak.concurrency
        const result = await run({ url: api.url, connections, durationMs, warmupMs, clients })
        const shed = result.statuses['503'] ?? 0
        const answers = Object.values(result.statuses).reduce((a, b) => a + b, 0)
        const otherAnswers = answers - (result.statuses['200'] ?? 0) - result.shedWithRetryAfter + result.socketErrors
        const okRatio = ratio(result.okPerSecond, peak.okPerSecond)
        runs.push({
          config: config.name,
          multiple,
          clients,
          result,
          okRatio,
          otherAnswers,
          met: {
            throughput: okRatio >= TARGETS.throughputRatio,
            okP99: result.ok.p99 <= TARGETS.okP99Ms,
            shedFast: shed === 0 || result.shed.p99 <= TARGETS.shedP99Ms,
            onlyShed: otherAnswers === 0
          }
        })
        log(`overload ${config.name.padEnd(9)} ${clients.padEnd(9)} c=${String(connections).padStart(4)} (${multiple}×)  200s ${result.okPerSecond}/s (${okRatio} × peak)  p99 ${result.ok.p99} ms  503 p99 ${result.shed.p99} ms  ${JSON.stringify(result.statuses)}  socket errors ${result.socketErrors}  client loop p99 ${result.clientLoopDelayP99Ms} ms  rss ${memoryOf(api.pid)?.rssMb ?? '–'} MB`)
      }
      apiPeakRssMb = memoryOf(api.pid)?.peakRssMb
      apiRestarted = !api.running()
    })
    configs.push({
      config: config.name,
      env: config.env,
      runs,
      apiPeakRssMb,
      apiRestarted,
      met: !apiRestarted && (apiPeakRssMb ?? Infinity) <= TARGETS.rssMb && runs.every((r) => Object.values(r.met).every(Boolean))
    })
  }
  return { nodeFlags: options.nodeFlags, durationMs, peak, configs, targets: TARGETS }
}

