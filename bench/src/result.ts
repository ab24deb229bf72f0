/** The JSON result of a run, and the check that one is well formed (used by the smoke test). */
import type { Load, Machine } from './machine.js'
import type { ModeName } from './modes.js'
import type { GetcodeFigures } from './scenarios/getcode.js'
import type { LatencyFigures } from './scenarios/latency.js'
import type { MemoryRun } from './scenarios/memory.js'
import type { TransactionFigures } from './scenarios/transactions.js'
import type { WorkerFigures } from './scenarios/worker.js'

export const SCENARIOS = ['getcode', 'worker', 'transactions', 'latency', 'memory'] as const
export type Scenario = typeof SCENARIOS[number]

/** One line of the summary table. */
export interface Row {
  figure: string
  measured: string
  baseline: string
  /** measured ÷ baseline, when it is a ratio figure. */
  ratio: number | null
  target: string
  /** null: informational, no target. */
  met: boolean | null
}

export interface BenchResult {
  version: 1
  mode: ModeName
  command: string
  startedAt: string
  finishedAt: string
  wallSeconds: number
  machine: Machine
  loadBefore: Load
  loadAfter: Load
  /** Node flags given to the api, worker and bare loops (beyond the recommended-flags memory run). */
  nodeFlags: string[]
  /** The api's LOG_LEVEL in the getcode runs. */
  apiLogLevel: string
  figures: {
    getcode?: GetcodeFigures
    worker?: WorkerFigures
    transactions?: TransactionFigures
    latency?: LatencyFigures
    memory?: { runs: MemoryRun[], endOfLoad: Record<string, number | undefined>, targets: { apiMb: number, workerMb: number }, met: boolean, metWithRecommendedFlags: boolean | null, recommendedFlags: string[] }
  }
  rows: Row[]
}

/** Problems that make `value` not a well-formed result of the scenarios in `expected`; empty when it is fine. */
export function problemsOf (value: unknown, expected: readonly Scenario[] = SCENARIOS): string[] {
  const problems: string[] = []
  const r = value as Partial<BenchResult> | null
  if (typeof r !== 'object' || r === null) return ['not an object']
  if (r.version !== 1) problems.push('version is not 1')
  for (const key of ['mode', 'command', 'startedAt', 'finishedAt'] as const) {
    if (typeof r[key] !== 'string') problems.push(`${key} is not a string`)
  }
  if (typeof r.wallSeconds !== 'number' || !(r.wallSeconds > 0)) problems.push('wallSeconds is not a positive number')
  if (typeof r.machine?.cores !== 'number') problems.push('machine.cores is missing')
  if (!/^v\d+\.\d+\.\d+/.test(String(r.machine?.node))) problems.push('machine.node is not the Node version the run was measured on')
  if (!Array.isArray(r.loadBefore?.loadAverage) || !Array.isArray(r.loadAfter?.loadAverage)) problems.push('load averages are missing')
  for (const scenario of expected) {
    if (r.figures?.[scenario] === undefined) problems.push(`figures.${scenario} is missing`)
  }
  const g = r.figures?.getcode
  if (g !== undefined) {
    for (const target of ['bare-loop', 'getcode', 'getcode-shipped', 'fastify-constant'] as const) {
      if (!(Number(g.best[target]?.rps) > 0)) problems.push(`getcode: no ${target} throughput`)
    }
    if (g.runs.some((run) => run.ok === 0)) problems.push('getcode: a run answered nothing')
    if (g.shippedFlags === undefined || g.shippedFlags.nodeFlags.length === 0 || g.shippedFlags.byConcurrency.some((c) => !(c.ratio > 0))) problems.push('getcode: the shipped heap flags were not compared')
  }
  const w = r.figures?.worker
  if (w !== undefined && (w.ratios.length === 0 || w.runs.some((run) => !(run.perSecond > 0)))) problems.push('worker: a run activated nothing')
  const t = r.figures?.transactions
  if (t !== undefined && !(t.atLoad.perCode >= 5)) problems.push(`transactions: ${t.atLoad.perCode} per code is below the 5 a code needs at least`)
  const l = r.figures?.latency
  if (l !== undefined && (!(l.idle.issueToValid.count > 0) || !(l.steady.issueToValid.count > 0))) problems.push('latency: no samples')
  const m = r.figures?.memory
  if (m !== undefined && m.runs.length === 0) problems.push('memory: no run was made')
  if (m !== undefined && m.runs.some((run) => !(Number(run.api?.rssMb) > 0) || !(Number(run.worker?.rssMb) > 0))) problems.push('memory: a reading is missing')
  const s = r.figures?.transactions?.signIn
  if (s !== undefined && (s.costs.length !== 4 || s.costs.some((c) => c.unexpected > 0 || !(c.codesTable >= 1)))) problems.push('signin: a sign-in got an unexpected answer or reached no table')
  if (!Array.isArray(r.rows) || r.rows.length === 0) problems.push('rows are missing')
  else if (r.rows.some((row) => typeof row.figure !== 'string' || typeof row.measured !== 'string')) problems.push('a row is malformed')
  return problems
}
