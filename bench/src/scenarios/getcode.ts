/**
 * Figure 1: getcode throughput and latency at several concurrencies, against
 * a bare loop doing the same third-party call and queue send with the same
 * clients (the storage ceiling), against the same api with AUTH_MODE=none
 * (what checking each caller's token costs), and against constant routes
 * (the HTTP ceiling: bare Fastify, and the api's own stack on /healthz).
 * Every target runs in its own process and is measured while it alone is loaded.
 */
import { createQueues } from '@codegate/shared/clients'
import { forkChild } from '../child.js'
import type { BareGetcodeRequest, BareGetcodeResult } from '../children/bare-getcode.js'
import type { Driver } from '../children/load.js'
import type { LoadRequest, LoadResult } from '../http-load.js'
import type { Mode } from '../modes.js'
import { CpuMeter, memoryOf, type Memory } from '../proc.js'
import { ratio, round, type LatencySummary } from '../stats.js'
import { startSystem, storageConfig, type Env } from '../system.js'
import { SERVICE_NODE_FLAGS } from '@codegate/stack'

/** getcode: the api as deployed, checking a bearer token on every call; getcode-open: the same with AUTH_MODE=none. getcode-shipped: the same api with the heap flags its container runs with (SERVICE_NODE_FLAGS), beside getcode without them. */
export type GetcodeTarget = 'bare-loop' | 'getcode' | 'getcode-shipped' | 'getcode-open' | 'api-healthz' | 'fastify-constant'

/** The cost of the shipped heap flags: getcode with them ÷ without, best of the alternated runs at each concurrency. */
export interface ShippedFlagsFigures {
  nodeFlags: string[]
  /** The flags are those the containers and npm start use (not a --compare-flags trial). */
  asShipped: boolean
  byConcurrency: { concurrency: number, withFlags: number, without: number, ratio: number }[]
  /** Best getcode-shipped ÷ best getcode, over all concurrencies. */
  ratio: number
  /** The same for codes per CPU-second of the code path (noise check: what the flags cost in CPU, whatever else ran). */
  perCoreSecondRatio: number
  /** The flags may cost at most 5 %. */
  target: number
  met: boolean
  /** The api with the flags, after its last getcode run. */
  apiMemory: Memory | undefined
}

export interface GetcodeRun {
  target: GetcodeTarget
  concurrency: number
  rps: number
  ok: number
  errors: number
  latency: LatencySummary
  /** Cores each process kept busy during the run. */
  cpu: Record<string, number>
}

export interface GetcodeFigures {
  driver: string
  durationMs: number
  runs: GetcodeRun[]
  best: Partial<Record<GetcodeTarget, { concurrency: number, rps: number, p50: number, p99: number, perCoreSecond: number }>>
  /** Best getcode ÷ best bare loop. */
  ratioToBareLoop: number
  /** The same for codes per second of CPU used by the code path (api or bare loop, number-api, Azurite): what each costs, whatever else the machine was doing. */
  perCoreSecondRatio: number
  ratioToFastifyConstant: number
  /** Best getcode (token checked) ÷ best getcode-open (AUTH_MODE=none), and its target. */
  auth: { ratio: number, target: number, met: boolean }
  target: number
  met: boolean
  /** The api after the last run. */
  apiMemory: Memory | undefined
  /** The bare loop's process after its last run: the same SDK clients without the api around them. */
  bareLoopMemory: Memory | undefined
  /** Absent from results written before it was measured. */
  shippedFlags?: ShippedFlagsFigures
}

/** Codes per second of CPU spent on the path of a code: the api or the bare loop, number-api and Azurite (not the load generator, not the bench). */
function perCoreSecond (run: GetcodeRun): number {
  const path = ['api', 'api-shipped', 'api-open', 'bare-loop', 'fastify', 'number-api', 'azurite-queue', 'azurite-table']
  const cores = path.reduce((sum, name) => sum + (run.cpu[name] ?? 0), 0)
  return cores > 0 ? round(run.rps / cores, 0) : Number.NaN
}

export interface GetcodeOptions {
  /** The CLI's process.env, which the processes inherit. */
  baseEnv: Env
  driver: Driver
  profileDir?: string
  /** Node flags for the api process (the memory settings under test). */
  nodeFlags: string[]
  /** Flags of the compared api (default: SERVICE_NODE_FLAGS.api, as shipped), to try others. */
  compareFlags?: string[]
  /** The api's LOG_LEVEL, to measure what logging costs (default: info, as deployed). */
  apiLogLevel?: string
  log: (line: string) => void
}

export async function runGetcode (mode: Mode, options: GetcodeOptions): Promise<GetcodeFigures> {
  const { concurrencies, durationMs, warmupMs } = mode.getcode
  const profile = options.profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []
  const bench = await startSystem({ baseEnv: options.baseEnv, workers: 0, ttlSeconds: 600, openApi: true, nodeFlags: [...profile, ...options.nodeFlags], ...(options.apiLogLevel !== undefined ? { apiLogLevel: options.apiLogLevel } : {}) })
  const { system } = bench
  const children: { stop: () => Promise<void> }[] = []
  try {
    const loader = await forkChild<LoadRequest & { driver: Driver }, LoadResult>('load', { baseEnv: options.baseEnv })
    children.push(loader)
    const bare = await forkChild<BareGetcodeRequest, BareGetcodeResult>('bare-getcode', {
      baseEnv: options.baseEnv,
      execArgv: profile,
      env: {
        BENCH_CONNECTION_STRING: system.connectionString,
        BENCH_THIRD_PARTY: system.urls.thirdParty,
        BENCH_THIRD_PARTY_KEY: system.thirdPartyApiKey
      }
    })
    children.push(bare)
    const constant = await forkChild<never, never, { url: string }>('constant-server', { baseEnv: options.baseEnv })
    children.push(constant)
    const { queue } = createQueues(storageConfig(bench.connectionString))
    const shippedFlags = [...options.nodeFlags, ...(options.compareFlags ?? SERVICE_NODE_FLAGS.api ?? [])]
    const shipped = await bench.addApi('api-shipped', [...profile, ...shippedFlags])

    const pidsFor = (target: GetcodeTarget): Record<string, number | undefined> => {
      const { api, 'api-open': apiOpen, bench: parent, 'azurite-queue': azuriteQueue, 'azurite-table': azuriteTable, 'number-api': numberApi } = bench.pids()
      const common = { 'azurite-queue': azuriteQueue, 'azurite-table': azuriteTable, 'number-api': numberApi, bench: parent }
      switch (target) {
        case 'bare-loop': return { ...common, 'bare-loop': bare.pid }
        case 'getcode': return { ...common, api, loader: loader.pid }
        case 'getcode-shipped': return { ...common, 'api-shipped': shipped.api.running ? shipped.api.pid : undefined, loader: loader.pid }
        case 'getcode-open': return { ...common, 'api-open': apiOpen, loader: loader.pid }
        case 'api-healthz': return { api, loader: loader.pid, bench: process.pid }
        case 'fastify-constant': return { fastify: constant.pid, loader: loader.pid, bench: process.pid }
      }
    }
    const urls: Record<Exclude<GetcodeTarget, 'bare-loop'>, string> = {
      getcode: `${bench.apiUrl}/api/v1/getcode`,
      'getcode-shipped': `${shipped.url}/api/v1/getcode`,
      'getcode-open': `${bench.openApi?.url ?? ''}/api/v1/getcode`,
      'api-healthz': `${bench.apiUrl}/healthz`,
      'fastify-constant': constant.info.url
    }
    const timeoutMs = warmupMs + durationMs + 60_000
    const runs: GetcodeRun[] = []
    let driver = 'none'
    const measure = async (target: GetcodeTarget, concurrency: number): Promise<void> => {
      // Each run starts from an empty queue (Azurite's costs grow with stored messages).
      await queue.clearMessages()
      const meter = new CpuMeter(() => pidsFor(target))
      meter.start()
      const result = target === 'bare-loop'
        ? await bare.call({ concurrency, durationMs, warmupMs }, timeoutMs)
        : await loader.call({
          url: urls[target],
          connections: concurrency,
          durationMs,
          warmupMs,
          driver: options.driver,
          // One token for the whole run, as a caller caches it; the open api is sent the same header and ignores it.
          headers: { authorization: `Bearer ${bench.caller.issueToken}` }
        }, timeoutMs)
      const cpu = meter.stop()
      if ('driver' in result) driver = result.driver
      const run: GetcodeRun = { target, concurrency, rps: result.rps, ok: result.ok, errors: result.errors, latency: result.latency, cpu }
      runs.push(run)
      options.log(`getcode  ${target.padEnd(16)} c=${String(concurrency).padStart(3)}  ${String(run.rps).padStart(8)}/s  p50 ${run.latency.p50} ms  p99 ${run.latency.p99} ms  errors ${run.errors}  cpu ${JSON.stringify(cpu)}`)
    }
    // Compared targets alternate at each concurrency, so a change in the machine's load hits both alike.
    for (const concurrency of concurrencies) {
      for (let repeat = 0; repeat < mode.getcodeRepeats; repeat++) {
        // Alternating which goes first; the best run counts, since another user of the machine only ever slows one down.
        const order: GetcodeTarget[] = repeat % 2 === 0 ? ['bare-loop', 'getcode', 'getcode-shipped', 'getcode-open'] : ['getcode-open', 'getcode-shipped', 'getcode', 'bare-loop']
        for (const target of order) await measure(target, concurrency)
      }
      await measure('fastify-constant', concurrency)
    }
    // Read before /healthz is hammered at tens of thousands of requests per second, which grows the heap far more than getcode does.
    const apiMemory = memoryOf(bench.api.pid)
    const shippedApiMemory = memoryOf(shipped.api.pid)
    for (const concurrency of concurrencies) await measure('api-healthz', concurrency)
    const bareLoopMemory = memoryOf(bare.pid)
    const best: GetcodeFigures['best'] = {}
    for (const run of runs) {
      const current = best[run.target]
      if (current === undefined || run.rps > current.rps) best[run.target] = { concurrency: run.concurrency, rps: run.rps, p50: run.latency.p50, p99: run.latency.p99, perCoreSecond: perCoreSecond(run) }
    }
    const ratioToBareLoop = ratio(best.getcode?.rps, best['bare-loop']?.rps)
    const bestAt = (target: GetcodeTarget, concurrency: number): number =>
      Math.max(0, ...runs.filter((r) => r.target === target && r.concurrency === concurrency).map((r) => r.rps))
    const shippedRatio = ratio(best['getcode-shipped']?.rps, best.getcode?.rps)
    const authRatio = ratio(best.getcode?.rps, best['getcode-open']?.rps)
    return {
      driver,
      durationMs,
      runs,
      best,
      ratioToBareLoop,
      perCoreSecondRatio: ratio(best.getcode?.perCoreSecond, best['bare-loop']?.perCoreSecond),
      ratioToFastifyConstant: ratio(best.getcode?.rps, best['fastify-constant']?.rps),
      auth: { ratio: authRatio, target: 0.95, met: authRatio >= 0.95 },
      target: 0.9,
      met: ratioToBareLoop >= 0.9,
      apiMemory,
      bareLoopMemory,
      shippedFlags: {
        nodeFlags: shippedFlags,
        asShipped: options.compareFlags === undefined || options.compareFlags.join(' ') === (SERVICE_NODE_FLAGS.api ?? []).join(' '),
        byConcurrency: concurrencies.map((concurrency) => {
          const withFlags = bestAt('getcode-shipped', concurrency)
          const without = bestAt('getcode', concurrency)
          return { concurrency, withFlags, without, ratio: ratio(withFlags, without) }
        }),
        ratio: shippedRatio,
        perCoreSecondRatio: ratio(best['getcode-shipped']?.perCoreSecond, best.getcode?.perCoreSecond),
        target: 0.95,
        met: shippedRatio >= 0.95,
        apiMemory: shippedApiMemory
      }
    }
  } finally {
    await Promise.all(children.map(async (c) => { await c.stop() }))
    await bench.stop()
  }
}
