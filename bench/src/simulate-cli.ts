/**
 * `npm run simulate [-- --seed N] [--markdown FILE]`: the capacity model's
 * ceilings, then the simulation of each scenario (ceilings reproduced, and
 * the sizes of docs/scale.md at 100, 1,000 and 10,000 codes/s), as Markdown
 * on stdout. The same seed prints the same bytes.
 */
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { ceilings, HEADROOM, PER_CODE, plan } from './capacity.js'
import { DEFAULT_OPTIONS, simulate, type Scenario, type ScenarioResult, type SimulationOptions } from './simulate.js'

const fmt = (x: number, d = 0): string => Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–'

export function scenarios (): Scenario[] {
  const sized = (rate: number, accounts?: number): Scenario => {
    const p = plan(rate, true)
    return {
      name: accounts === undefined ? `${rate.toLocaleString('en-US')} codes/s, sized, one account` : `${rate.toLocaleString('en-US')} codes/s, sized, ${accounts} accounts (what-if)`,
      rate,
      shards: p.shards,
      workers: p.workers,
      apiReplicas: p.apiReplicas,
      ...(accounts !== undefined ? { accounts } : {}),
      signIn: true
    }
  }
  return [
    sized(100),
    sized(1000),
    { name: '1,000 codes/s, one queue', rate: 1000, shards: 1, workers: plan(1000, true).workers, apiReplicas: plan(1000, true).apiReplicas, signIn: true },
    sized(10_000),
    sized(10_000, plan(10_000, true).accounts)
  ]
}

export interface CeilingCase {
  resource: string
  /** The model's codes/s for it (each code signed in once). */
  model: number
  /** A configuration where only this resource can bind. */
  config: Omit<Scenario, 'name' | 'rate'>
}

export function ceilingCases (): CeilingCase[] {
  const c = ceilings(PER_CODE.signedIn, true)
  return [
    { resource: 'one queue (2,000 messages/s)', model: c.perQueue, config: { shards: 1, workers: 8, apiReplicas: 8, signIn: true } },
    { resource: 'one storage account (20,000 requests/s)', model: c.perAccount, config: { shards: 8, workers: 16, apiReplicas: 16, signIn: true } },
    { resource: 'one worker replica (0.5 core)', model: c.perWorkerReplica, config: { shards: 2, workers: 1, apiReplicas: 8, signIn: true } },
    { resource: 'one api replica (0.5 core)', model: c.perApiReplica, config: { shards: 2, workers: 8, apiReplicas: 1, signIn: true } }
  ]
}

/** A rate is sustained when the codes are activated as fast as they are asked for and nothing piles up. */
export function sustained (r: ScenarioResult): boolean {
  return r.activatedPerSecond >= 0.98 * r.scenario.rate && r.backlogGrowthPerSecond <= 0.02 * r.scenario.rate
}

/** The highest sustained rate, by bisection between half and one and a half times the model's ceiling. */
export function simulatedCeiling (c: CeilingCase, options: SimulationOptions, steps = 8): { rate: number, binds: string | undefined } {
  let lo = c.model * 0.5
  let hi = c.model * 1.5
  let binds: string | undefined
  for (let i = 0; i < steps; i++) {
    const rate = (lo + hi) / 2
    const r = simulate({ name: c.resource, rate, ...c.config }, options)
    if (sustained(r)) lo = rate
    else { hi = rate; binds = r.binds }
  }
  return { rate: lo, binds }
}

export function ceilingTable (options: SimulationOptions): string {
  const lines = [
    '| resource | configuration (shards × workers × api) | model codes/s | simulated: highest sustained codes/s | what binds just above it |',
    '|---|---|---|---|---|'
  ]
  for (const c of ceilingCases()) {
    const found = simulatedCeiling(c, options)
    lines.push(`| ${c.resource} | ${c.config.shards} × ${c.config.workers} × ${c.config.apiReplicas} | ${fmt(c.model)} | ${fmt(found.rate)} | ${found.binds ?? '–'} |`)
  }
  return lines.join('\n')
}

export function modelTable (): string {
  const lines = [
    '| per code | queue messages | requests (queue + table) | codes/s per queue | per account | per table partition | per worker replica | per api replica |',
    '|---|---|---|---|---|---|---|---|'
  ]
  for (const [label, signIn] of [['issued, never signed in', false], ['issued and signed in once', true]] as const) {
    const perCode = PER_CODE[signIn ? 'signedIn' : 'issued']
    const c = ceilings(perCode, signIn)
    lines.push(`| ${label} | ${perCode.queueMessages} | ${fmt(perCode.queueRequests, 3)} + ${perCode.tableRequests} = ${fmt(perCode.queueRequests + perCode.tableRequests, 3)} | ${fmt(c.perQueue)} (${fmt(c.perQueueByRequests)} counting requests) | ${fmt(c.perAccount)} | ${fmt(c.perPartition)} (all 256: ${fmt(c.perTable)}) | ${fmt(c.perWorkerReplica)} | ${fmt(c.perApiReplica)} |`)
  }
  return lines.join('\n')
}

export function planTable (): string {
  const lines = [
    `| codes/s | queue shards | worker replicas | api replicas | storage accounts | stored messages (rate × 600 s) | storage requests/s |`,
    '|---|---|---|---|---|---|---|'
  ]
  for (const rate of [100, 1000, 10_000]) {
    const p = plan(rate, true)
    lines.push(`| ${fmt(rate)} | ${p.shards} | ${p.workers} | ${p.apiReplicas} | ${p.accounts} | ${fmt(p.storedMessages)} | ${fmt(p.transactionsPerSecond)} |`)
  }
  return lines.join('\n')
}

export function resultTable (results: ScenarioResult[]): string {
  const lines = [
    '| scenario | offered/s | shards × workers × api | issued/s | activated/s | busiest shard | account | busiest partition | api CPU | worker CPU | binds | backlog growth/s | activate wait ms | requests/code |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const r of results) {
    const s = r.scenario
    const u = r.utilization
    lines.push(`| ${s.name} | ${fmt(s.rate)} | ${s.shards} × ${s.workers} × ${s.apiReplicas}${s.accounts !== undefined ? ` (${s.accounts} accounts)` : ''} | ${fmt(r.issuedPerSecond)} | ${fmt(r.activatedPerSecond)} | ${fmt(u['queue shard'], 2)} | ${fmt(u['storage account'], 2)} | ${fmt(u['table partition'], 2)} | ${fmt(u['api CPU'], 2)} | ${fmt(u['worker CPU'], 2)} | ${r.binds ?? 'none'} | ${fmt(r.backlogGrowthPerSecond)} | ${fmt(r.meanActivationWaitMs)} | ${fmt(r.transactionsPerCode, 2)} |`)
  }
  return lines.join('\n')
}

export function report (seed: number, options: Partial<SimulationOptions> = {}, list: Scenario[] = scenarios()): string {
  const o: SimulationOptions = { ...DEFAULT_OPTIONS, ...options, seed }
  const results = list.map((s) => simulate(s, o))
  return [
    `Seed ${seed}; ${o.seconds} simulated s per scenario in ${o.tickMs} ms ticks, TTL ${o.ttlSeconds} s, the first ${o.ttlSeconds + 2} s not measured; utilization 1 = the whole target or CPU; headroom for the sizes ${HEADROOM}.`,
    '',
    '**Model** (codes/s each resource carries):',
    '',
    modelTable(),
    '',
    '**Sizes** (each code signed in once; every resource at most at the headroom):',
    '',
    planTable(),
    '',
    '**Ceilings reproduced** (each code signed in once; bisection on the offered rate, a rate is sustained when activations keep up and the backlog does not grow):',
    '',
    ceilingTable(o),
    '',
    '**At 100, 1,000 and 10,000 codes/s** (each code signed in once):',
    '',
    resultTable(results)
  ].join('\n') + '\n'
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { seed: { type: 'string', default: '1' }, markdown: { type: 'string' }, help: { type: 'boolean', default: false } } })
  if (values.help) {
    console.log('usage: npm run simulate -- [--seed N] [--markdown FILE]')
    return
  }
  const seed = Number(values.seed)
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a whole number, got ${values.seed}`)
  const text = report(seed)
  process.stdout.write(text)
  if (values.markdown !== undefined) await writeFile(values.markdown, text)
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
