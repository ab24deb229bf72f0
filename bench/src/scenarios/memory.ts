/**
 * Figure 5 (part): resident memory of the api and the worker after a mixed
 * load (getcode as fast as it goes, the worker activating and expiring),
 * once with the node flags the containers use today (none) and once with a
 * heap cap. Node lets the heap grow well past what is live before a full
 * collection (the api's live heap is ~30 MB; its heap reaches 130 MB before
 * one), so RSS at any moment says more about the collector than about need.
 */
import { forkChild } from '../child.js'
import type { Driver } from '../children/load.js'
import type { LoadRequest, LoadResult } from '../http-load.js'
import type { Mode } from '../modes.js'
import { memoryOf, type Memory } from '../proc.js'
import { startSystem, type Env } from '../system.js'
import { SERVICE_NODE_FLAGS } from '@codegate/stack'

/** The heap limits the api and worker containers run with (Dockerfile NODE_OPTIONS). */
export const RECOMMENDED_NODE_FLAGS = [...(SERVICE_NODE_FLAGS.api ?? [])]
export const RECOMMENDED_WORKER_NODE_FLAGS = [...(SERVICE_NODE_FLAGS.worker ?? [])]

/** Node flags of the api (and bare loops) and of the worker in one memory run. */
export interface FlagSet {
  api: string[]
  worker: string[]
}

export interface MemoryRun {
  /** The api's. */
  nodeFlags: string[]
  /** The worker's, where they differ from the api's. */
  workerNodeFlags?: string[]
  seconds: number
  getcodePerSecond: number
  api: Memory | undefined
  worker: Memory | undefined
}

export async function runMemory (mode: Mode, options: { baseEnv: Env, driver: Driver, flagSets: FlagSet[], log: (line: string) => void }): Promise<MemoryRun[]> {
  const runs: MemoryRun[] = []
  for (const { api: nodeFlags, worker: workerNodeFlags } of options.flagSets) {
    const bench = await startSystem({ baseEnv: options.baseEnv, workers: 1, ttlSeconds: 10, nodeFlags, workerNodeFlags })
    const loader = await forkChild<LoadRequest & { driver: Driver }, LoadResult>('load', { baseEnv: options.baseEnv })
    try {
      const durationMs = mode.memory.seconds * 1000
      const result = await loader.call({ url: `${bench.apiUrl}/api/v1/getcode`, connections: 16, durationMs, warmupMs: 0, driver: options.driver, headers: { authorization: `Bearer ${bench.caller.issueToken}` } }, durationMs + 60_000)
      const differs = workerNodeFlags.join(' ') !== nodeFlags.join(' ')
      const run: MemoryRun = { nodeFlags, ...(differs ? { workerNodeFlags } : {}), seconds: mode.memory.seconds, getcodePerSecond: result.rps, api: memoryOf(bench.api.pid), worker: memoryOf(bench.workers[0]?.pid) }
      runs.push(run)
      options.log(`memory   flags ${nodeFlags.length > 0 ? nodeFlags.join(' ') : '(none)'}${differs ? ` (worker ${workerNodeFlags.join(' ')})` : ''}: api ${run.api?.rssMb ?? '–'} MB (peak ${run.api?.peakRssMb ?? '–'}), worker ${run.worker?.rssMb ?? '–'} MB (peak ${run.worker?.peakRssMb ?? '–'}), getcode ${run.getcodePerSecond}/s`)
    } finally {
      await loader.stop()
      await bench.stop()
    }
  }
  return runs
}
