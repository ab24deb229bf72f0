/**
 * Figure 4: issue-to-valid latency, the time from getcode's answer to the
 * first sign-in that succeeds with the code (sign-in is tried every few ms
 * from the moment the answer arrives), from idle and at a steady rate.
 *
 * - idle: one code at a time, each after a pause long enough for the worker
 *   to reach its longest back-off (WORKER_MAX_BACKOFF_MS, default 1 s): the
 *   worst case of a quiet system;
 * - steady: codes at a fixed rate (open loop) with a TTL short enough that
 *   rate × TTL stays within what Azurite handles; measured after one TTL, once
 *   expires flow as well as activates and the queue holds its steady count.
 */
import { atRate, getCode, getCodeOrShed, signInWhenValid } from '../client.js'
import type { Mode } from '../modes.js'
import { CpuMeter, memoryOf, type Memory } from '../proc.js'
import { summarize, type LatencySummary } from '../stats.js'
import { startSystem, type Env } from '../system.js'

export interface LatencyFigures {
  /** How often sign-in is tried while waiting: the resolution of the figure. */
  pollMs: { idle: number, steady: number }
  idle: { samples: number, gapMs: number, issueToValid: LatencySummary, getcode: LatencySummary }
  steady: {
    rate: number
    ttlSeconds: number
    /** Codes measured (issued after the first TTL). */
    samples: number
    issueToValid: LatencySummary
    getcode: LatencySummary
    timedOut: number
    /** getcodes the api refused with 503 (it sheds load when its event loop lags): no code, so not in the samples; any fails the target. */
    shed: number
    cpu: Record<string, number>
  }
  targets: { idleP99Ms: number, steadyP99Ms: number }
  met: { idle: boolean, steady: boolean }
  /** At the end of the steady run. */
  memory: { api: Memory | undefined, worker: Memory | undefined }
}

const IDLE_POLL_MS = 10
const STEADY_POLL_MS = 20
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export async function runLatency (mode: Mode, options: { baseEnv: Env, nodeFlags: string[], log: (line: string) => void }): Promise<LatencyFigures> {
  const { idleSamples, idleGapMs, steadyRate, steadyTtlSeconds, steadySeconds } = mode.latency

  // From idle.
  const idleSystem = await startSystem({ baseEnv: options.baseEnv, workers: 1, ttlSeconds: 600, nodeFlags: options.nodeFlags })
  const idleTimes: number[] = []
  const idleGetcode: number[] = []
  try {
    // A first code to warm the api's connections, not measured.
    const warm = await getCode(idleSystem.caller)
    await signInWhenValid(idleSystem.caller, warm.code, warm.answeredAt, IDLE_POLL_MS, 10_000)
    for (let i = 0; i < idleSamples; i++) {
      await sleep(idleGapMs * (0.9 + Math.random() * 0.2))
      const issued = await getCode(idleSystem.caller)
      const took = await signInWhenValid(idleSystem.caller, issued.code, issued.answeredAt, IDLE_POLL_MS, 10_000)
      if (took === undefined) throw new Error('a code issued into an idle system was not valid within 10 s')
      idleTimes.push(took)
      idleGetcode.push(issued.latencyMs)
    }
  } finally {
    await idleSystem.stop()
  }
  const idle = { samples: idleTimes.length, gapMs: idleGapMs, issueToValid: summarize(idleTimes), getcode: summarize(idleGetcode) }
  options.log(`latency  from idle: issue-to-valid p50 ${idle.issueToValid.p50} ms  p99 ${idle.issueToValid.p99} ms  (${idle.samples} codes)`)

  // At a steady rate.
  const steadySystem = await startSystem({ baseEnv: options.baseEnv, workers: 1, ttlSeconds: steadyTtlSeconds, nodeFlags: options.nodeFlags })
  try {
    const times: number[] = []
    const getcodeTimes: number[] = []
    let timedOut = 0
    let shed = 0
    const measureAfter = steadyTtlSeconds * steadyRate
    const meter = new CpuMeter(() => steadySystem.pids())
    let metering = false
    const settled = await atRate(steadyRate, steadyTtlSeconds + steadySeconds, async (i) => {
      if (i === measureAfter) { meter.start(); metering = true }
      // A shed request is the api's answer to a starved process, not a failure of the run: counted and reported.
      const issued = await getCodeOrShed(steadySystem.caller)
      if (issued === 'shed') { if (i >= measureAfter) shed++; return }
      const took = await signInWhenValid(steadySystem.caller, issued.code, issued.answeredAt, STEADY_POLL_MS, 10_000)
      if (i < measureAfter) return
      if (took === undefined) timedOut++
      else times.push(took)
      getcodeTimes.push(issued.latencyMs)
    })
    const cpu = metering ? meter.stop() : {}
    const failed = settled.filter((s) => s.status === 'rejected')
    if (failed.length > 0) throw new Error(`${failed.length} steady codes failed: ${String((failed[0] as PromiseRejectedResult).reason)}`)
    const memory = { api: memoryOf(steadySystem.api.pid), worker: memoryOf(steadySystem.workers[0]?.pid) }
    const steady = { rate: steadyRate, ttlSeconds: steadyTtlSeconds, samples: times.length, issueToValid: summarize(times), getcode: summarize(getcodeTimes), timedOut, shed, cpu }
    options.log(`latency  at ${steadyRate}/s: issue-to-valid p50 ${steady.issueToValid.p50} ms  p99 ${steady.issueToValid.p99} ms  (${steady.samples} codes, ${timedOut} timed out, ${shed} shed)  cpu ${JSON.stringify(cpu)}`)
    const targets = { idleP99Ms: 1000, steadyP99Ms: 250 }
    return {
      pollMs: { idle: IDLE_POLL_MS, steady: STEADY_POLL_MS },
      idle,
      steady,
      targets,
      met: { idle: idle.issueToValid.p99 <= targets.idleP99Ms, steady: timedOut === 0 && shed === 0 && steady.issueToValid.p99 <= targets.steadyP99Ms },
      memory
    }
  } finally {
    await steadySystem.stop()
  }
}
