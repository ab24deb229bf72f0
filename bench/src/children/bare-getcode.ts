/**
 * Child: the baseline of getcode. The same two calls, with the same SDK
 * client factory and the same fetch, in a bare loop at a given concurrency:
 * GET the third-party number (key in x-functions-key), then send the api's
 * activate message (the code's keyed hash in a v2 envelope, written by the
 * codec). No HTTP server, no framework, no logging: what the storage and the
 * third party allow by themselves.
 */
import { randomInt } from 'node:crypto'
import { createQueues, type Queues } from '@codegate/shared/clients'
import { randomHasher, type CodeHasher } from '@codegate/shared/code-hash'
import type { StorageConfig } from '@codegate/shared/config'
import { encodeMessage } from '@codegate/shared/message'
import { serve } from '../child.js'
import { round, summarize, type LatencySummary } from '../stats.js'
import { storageConfig } from '../system.js'

export interface BareGetcodeRequest {
  concurrency: number
  durationMs: number
  warmupMs: number
}

export interface BareGetcodeResult {
  concurrency: number
  durationMs: number
  ok: number
  errors: number
  rps: number
  latency: LatencySummary
}

interface State {
  queues: Queues
  hasher: CodeHasher
  endpoint: string
  key: string
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
const letters = (): string => LETTERS[randomInt(52)] as string + LETTERS[randomInt(52)] + LETTERS[randomInt(52)]

/** One code's work: the third-party call and the queue send. */
async function once (state: State, ttlMs: number): Promise<void> {
  const res = await fetch(state.endpoint, { headers: { 'x-functions-key': state.key, accept: 'application/json' } })
  const { value } = await res.json() as { value: number }
  if (!res.ok || typeof value !== 'number') throw new Error(`third party answered ${res.status}`)
  const issuedAt = new Date()
  const codeHash = state.hasher.hash(`${letters()}-${value}-${letters()}`)
  const text = encodeMessage({ v: 2, phase: 'activate', codeHash, issuedAt, expiresAt: new Date(issuedAt.getTime() + ttlMs) }, 'base64')
  await state.queues.queue.sendMessage(text, { messageTimeToLive: -1 })
}

serve<BareGetcodeRequest, BareGetcodeResult, State>(
  async () => {
    // The bench's storage settings (queue and table names), with the api's 5 s storage timeout.
    const config: StorageConfig = { ...storageConfig(process.env.BENCH_CONNECTION_STRING as string, process.env.BENCH_QUEUE_NAME), storageTimeoutMs: 5000 }
    const queues = createQueues(config)
    await queues.queue.createIfNotExists()
    return { state: { queues, hasher: randomHasher(), endpoint: process.env.BENCH_THIRD_PARTY as string, key: process.env.BENCH_THIRD_PARTY_KEY as string } }
  },
  async (request, state) => {
    const start = performance.now()
    const measureFrom = start + request.warmupMs
    const measureTo = measureFrom + request.durationMs
    const latencies: number[] = []
    let ok = 0
    let errors = 0
    const loop = async (): Promise<void> => {
      while (performance.now() < measureTo) {
        const t0 = performance.now()
        let failed = false
        try {
          await once(state, 600_000)
        } catch {
          failed = true
        }
        const t1 = performance.now()
        if (t1 < measureFrom || t1 > measureTo) continue
        if (failed) errors++
        else { ok++; latencies.push(t1 - t0) }
      }
    }
    await Promise.all(Array.from({ length: request.concurrency }, loop))
    return {
      concurrency: request.concurrency,
      durationMs: request.durationMs,
      ok,
      errors,
      rps: round(ok / (request.durationMs / 1000), 1),
      latency: summarize(latencies)
    }
  }
)
