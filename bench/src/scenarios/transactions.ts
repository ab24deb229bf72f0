/**
 * Figure 3: storage transactions per code over its whole life (issue →
 * activate → expire), counted at a proxy in front of Azurite that every
 * storage request of the api and the worker passes through.
 *
 * - at load: codes issued while no worker runs, then one worker started: it
 *   never waits for messages, so its receives come back full (32), when
 *   activating and again when the expires return together (the codes were
 *   issued within a second or two); the figure the target is about;
 * - idle: what an idle worker costs (empty receives per second);
 * - steady: codes at a fixed rate, each signed in once, as users would.
 */
import { connectionStringFor } from '@codegate/stack'
import { freePort } from '@codegate/stack'
import { atRate, getCode, signIn, withConcurrency } from '../client.js'
import { diff, startCountingProxy, transactions, type Counts } from '../counting-proxy.js'
import type { Mode } from '../modes.js'
import { round } from '../stats.js'
import { startSystem, type Env } from '../system.js'
import { measureSignInCost, type SignInCostFigures } from './signin-cost.js'

export interface PhaseCount {
  codes: number
  seconds: number
  /** Once per process start, not per code (queue and table creation), left out of the rest. */
  setup: Counts
  /** Every request, by operation (`…:status` keys: answers other than 2xx; receive:empty / :non-empty split receives). */
  counts: Counts
  transactions: number
  perCode: number
  /** Per code, by operation. */
  perCodeByOperation: Record<string, number>
}

export interface TransactionFigures {
  ttlSeconds: number
  /** `idlePollsLeftOut`: empty receives while the worker waited for the expires, left out of the counts. */
  atLoad: PhaseCount & { idlePollsLeftOut: number }
  idle: { seconds: number, counts: Counts, perSecond: number, receivesPerSecond: number }
  steady: PhaseCount & { rate: number, signIns: number, approved: number }
  /** 5 + 2/32: send, insert, updateMessage, delete row, delete message, two shares of a 32-message receive. */
  target: number
  met: boolean
  /** Table requests per approved and refused sign-in, by table (what the shared limits add). */
  signIn: SignInCostFigures
}

const SETUP = /^(queue\.create|table\.create-table)(:|$)/

function phase (codes: number, seconds: number, all: Counts): PhaseCount {
  const counts: Counts = {}
  const setup: Counts = {}
  for (const [op, n] of Object.entries(all)) {
    if (SETUP.test(op)) setup[op] = n
    else counts[op] = n
  }
  const total = transactions(counts)
  const perCodeByOperation: Record<string, number> = {}
  for (const [op, n] of Object.entries(counts)) perCodeByOperation[op] = round(n / codes, 3)
  return { codes, seconds: round(seconds, 1), setup, counts, transactions: total, perCode: round(total / codes, 3), perCodeByOperation }
}

export async function runTransactions (mode: Mode, options: { baseEnv: Env, nodeFlags: string[], log: (line: string) => void }): Promise<TransactionFigures> {
  const { burstCodes, steadyRate, steadySeconds, ttlSeconds, idleSeconds } = mode.transactions
  const azuritePorts = { queue: await freePort(), table: await freePort() }
  const proxy = await startCountingProxy({ queuePort: azuritePorts.queue, tablePort: azuritePorts.table })
  let bench: Awaited<ReturnType<typeof startSystem>> | undefined
  try {
    bench = await startSystem({
      baseEnv: options.baseEnv,
      workers: 0,
      ttlSeconds,
      ports: azuritePorts,
      storageConnectionString: connectionStringFor('127.0.0.1', proxy.queuePort, proxy.tablePort),
      nodeFlags: options.nodeFlags
    })
    const { events, caller } = bench
    const lifeMs = (codes: number): number => (ttlSeconds + 60) * 1000 + codes * 50

    // At load: a queue the worker finds full.
    let before = proxy.snapshot()
    let t0 = performance.now()
    await withConcurrency(burstCodes, 32, async () => await getCode(caller))
    await bench.addWorker()
    await bench.waitFor(() => events.activated + events.dropped, burstCodes, lifeMs(burstCodes))
    if (events.dropped > 0) throw new Error(`${events.dropped} codes expired before the worker reached them: raise the TTL of this mode`)
    // Between the activations and the returning expires the worker is idle: its empty polls there are idle polling, reported below, not a cost of these codes.
    const gapStart = proxy.snapshot()
    await bench.waitFor(() => events.expired, 1, lifeMs(burstCodes))
    const gap = diff(proxy.snapshot(), gapStart)
    await bench.waitFor(() => events.expired, burstCodes, lifeMs(burstCodes))
    const loadCounts = diff(proxy.snapshot(), before)
    const gapPolls = gap['queue.receive:empty'] ?? 0
    loadCounts['queue.receive'] = (loadCounts['queue.receive'] ?? 0) - gapPolls
    loadCounts['queue.receive:empty'] = (loadCounts['queue.receive:empty'] ?? 0) - gapPolls
    const atLoad = { ...phase(burstCodes, (performance.now() - t0) / 1000, loadCounts), idlePollsLeftOut: gapPolls }
    options.log(`storage  at load: ${atLoad.perCode} transactions per code ${JSON.stringify(atLoad.perCodeByOperation)}`)

    // Idle: once the worker's back-off has reached its cap.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    before = proxy.snapshot()
    t0 = performance.now()
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000))
    const idleCounts = diff(proxy.snapshot(), before)
    const idleTime = (performance.now() - t0) / 1000
    const idle = {
      seconds: round(idleTime, 1),
      counts: idleCounts,
      perSecond: round(transactions(idleCounts) / idleTime, 2),
      receivesPerSecond: round((idleCounts['queue.receive'] ?? 0) / idleTime, 2)
    }
    options.log(`storage  idle: ${idle.perSecond} transactions/s (${idle.receivesPerSecond} receives/s)`)

    // Steady: a fixed rate, each code signed in once when it is surely valid.
    before = proxy.snapshot()
    t0 = performance.now()
    const expiredBefore = events.expired + events.dropped
    let approved = 0
    const settled = await atRate(steadyRate, steadySeconds, async () => {
      const issued = await getCode(caller)
      await new Promise((resolve) => setTimeout(resolve, 1500))
      if (await signIn(caller, issued.code) === 200) approved++
    })
    const failures = settled.filter((s) => s.status === 'rejected').length
    if (failures > 0) throw new Error(`${failures} of ${settled.length} steady codes failed: ${String((settled.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason)}`)
    const steadyCodes = settled.length
    await bench.waitFor(() => events.expired + events.dropped - expiredBefore, steadyCodes, lifeMs(steadyCodes))
    const steady = { ...phase(steadyCodes, (performance.now() - t0) / 1000, diff(proxy.snapshot(), before)), rate: steadyRate, signIns: steadyCodes, approved }
    options.log(`storage  steady ${steadyRate}/s with sign-in: ${steady.perCode} transactions per code ${JSON.stringify(steady.perCodeByOperation)}`)

    const signInCost = await measureSignInCost(bench, proxy, mode.signInCost.signIns, options.log)

    const target = 5 + 2 / 32
    return { ttlSeconds, atLoad, idle, steady, target: round(target, 4), met: atLoad.perCode <= target, signIn: signInCost }
  } finally {
    await bench?.stop()
    await proxy.close()
  }
}
