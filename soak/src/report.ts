/**
 * The figures of a run as one plain-text table (what `npm run soak` prints)
 * and as Markdown (what docs/reliability.md quotes). Invariant rows start with
 * `pass` or `FAIL`, so a test can read them back.
 */
import type { Analysis, FaultSummary, Stats } from './analyze.js'
import type { SoakOptions } from './options.js'

const ms = (x: number | undefined): string => x === undefined ? '–' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`

export function formatStats (s: Stats): string {
  if (s.n === 0) return 'n=0'
  return `n=${s.n}  p50 ${ms(s.p50)}  p95 ${ms(s.p95)}  p99 ${ms(s.p99)}  max ${ms(s.max)}`
}

const tally = (t: Record<string, number>): string => {
  const entries = Object.entries(t).sort((a, b) => b[1] - a[1])
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${v}× ${k}`).join(', ')
}

export function describeProfile (o: SoakOptions): string {
  return `${o.profile}: ${o.rate} codes/s, TTL ${o.ttlSeconds} s (${Math.round(o.rate * o.ttlSeconds)} live codes), ${o.loadSeconds} s of load, ` +
    `${o.workers} workers, ${o.env.QUEUE_SHARDS ?? 1} queue shard${(o.env.QUEUE_SHARDS ?? '1') === '1' ? '' : 's'}, seed ${o.seed}; bounds: activation ${o.bounds.activationMs} ms, removal ${o.bounds.removalMs} ms, ` +
    `recovery ${o.bounds.recoveryMs} ms; worker visibility timeout ${o.bounds.visibilityMs / 1000} s`
}

export function describeFault (f: FaultSummary): string {
  const parts = [
    `+${f.at.toFixed(1)} s ${f.kind} (${f.target})`,
    ...(f.downSeconds !== undefined ? [`down ${f.downSeconds} s`] : []),
    ...(f.garbage !== undefined ? [`${f.garbage} messages`] : []),
    ...(f.error !== undefined ? [`NOT INJECTED: ${f.error}`] : []),
    `getcode errors: ${tally(f.getcodeFailures)}`,
    `sign-in errors: ${tally(f.signInFailures)}`,
    ...(f.caughtBusy !== undefined ? [f.caughtBusy ? 'killed mid-batch' : 'killed while idle (no activation within 15 s)'] : []),
    `codes in its window: ${f.codesInWindow}, late: ${f.lateCodes}${f.maxActivationMs !== undefined ? ` (slowest ${ms(f.maxActivationMs)})` : ''}`,
    `activations redelivered: ${f.redelivered}`,
    `getcode 200 again after ${ms(f.recoveryMs)}`
  ]
  return parts.join('; ')
}

/** [label, value] rows of the figures that are not invariants. */
export function figureRows (a: Analysis): [string, string][] {
  const s = a.signIns
  return [
    ['getcode requests / 200 / skipped (too many waiting)', `${a.api.getcodes} / ${a.api.getcode200} / ${a.codes.skipped}`],
    ['api failures by answer', tally(a.api.failures)],
    ['503 overloaded outside the overload bursts (the api shed load the machine gave it)', String(a.api.shedOutside)],
    ['api 5xx answers seen / logged by the api (request.failed) / "unexpected error" lines', `${a.api.answered5xx} / ${a.api.logged5xx} / ${a.api.unexpectedLogged}`],
    ['codes valid within bound / late inside fault windows / never valid', `${a.codes.validWithinBound} / ${a.codes.validLateInWindow} / ${a.codes.neverValid}`],
    ['codes issued inside activation fault windows', String(a.codes.inActivationWindow)],
    ['activation latency, outside fault windows', formatStats(a.latency.activation)],
    ['activation latency, inside fault windows', formatStats(a.latency.activationInWindow)],
    ['activations on redelivery (dequeueCount > 1)', String(a.codes.activatedOnRedelivery)],
    ['removal after expiry (worker event), outside windows', formatStats(a.latency.removal)],
    ['removal after expiry (worker event), inside windows', formatStats(a.latency.removalInWindow)],
    ['getcode latency (200)', formatStats(a.latency.getcode)],
    ['sign-in latency (answered)', formatStats(a.latency.signIn)],
    ['sign-ins made', String(s.total)],
    ['  while valid and unused: approved / refused', `${s.strictApproved} / ${s.strictRefused}`],
    ['  two at once while valid: pairs / one approved / none approved', `${s.pairs} / ${s.pairsOneApproved} / ${s.pairsNoneApproved}`],
    ['  right after issue: refused before activation / approved (already active)', `${s.earlyRefusedBeforeActivation} / ${s.earlyApproved}`],
    ['  row not there yet when signing in (later plans)', String(s.notYetActive)],
    ['  after use: approved', `${s.usedAgainApproved} of ${s.usedAgain}`],
    ['  after expiry: approved (row still in the table)', `${s.afterExpiryApproved} of ${s.afterExpiry} (${s.afterExpiryRowPresent})`],
    ['  never-issued codes: approved', `${s.unknownApproved} of ${s.unknown}`],
    ['  within the margin of expiry / 5xx or no answer / unclassified', `${s.boundary} / ${s.unavailable} / ${s.unclassified}`],
    ['attacker guesses / judged (401) / refused (429) / 5xx or no answer', `${a.attack?.guesses ?? 0} / ${a.attack?.judged ?? 0} / ${a.attack?.locked ?? 0} / ${a.attack?.unavailable ?? 0}`],
    ['  from addresses / most judged for one / naming an honest subject', `${a.attack?.addresses ?? 0} / ${a.attack?.maxJudgedPerAddress ?? 0} / ${a.attack?.honestSubjects ?? 0}`],
    ['queue messages: codes / garbage / processed / poisoned', `${a.messages.codes} / ${a.messages.garbage} / ${a.messages.processed} / ${a.messages.poisoned}`],
    ['messages not from a returned code (api failed after sending)', String(a.messages.orphans)],
    ['codes whose code.issued log line was not found', String(a.codes.withoutIssuedLog)],
    ['log lines scanned / at error level, by process', `${a.logs.lines} / ${tally(a.logs.errorLines ?? {})}`],
    ['startup / load / drain / total', `${a.durations.startupSeconds} s / ${a.durations.loadSeconds} s / ${a.durations.drainSeconds} s / ${a.durations.totalSeconds} s`]
  ]
}

const pad = (text: string, width: number): string => text.length >= width ? text : text + ' '.repeat(width - text.length)

export function formatReport (options: SoakOptions, a: Analysis): string {
  const out: string[] = []
  out.push(`codegate soak — ${describeProfile(options)}`)
  out.push('')
  out.push('faults')
  if (a.faults.length === 0) out.push('  none')
  for (const f of a.faults) out.push(`  ${describeFault(f)}`)
  out.push('')
  out.push('figures')
  const rows = figureRows(a)
  const width = Math.max(...rows.map(([l]) => l.length)) + 2
  for (const [label, value] of rows) out.push(`  ${pad(label, width)}${value}`)
  out.push('')
  const labelWidth = Math.max(...a.invariants.map((i) => i.label.length)) + 2
  const valueWidth = Math.max(...a.invariants.map((i) => String(i.value).length)) + 2
  out.push(`${pad('', 6)}${pad('invariant', labelWidth)}${pad('value', valueWidth)}expected`)
  for (const i of a.invariants) {
    out.push(`${pad(i.pass ? 'pass' : 'FAIL', 6)}${pad(i.label, labelWidth)}${pad(String(i.value), valueWidth)}${i.expected}`)
    if (!i.pass) for (const e of i.examples ?? []) out.push(`${pad('', 8)}e.g. ${e}`)
  }
  out.push('')
  const failed = a.invariants.filter((i) => !i.pass).length
  out.push(failed === 0
    ? `soak passed: all ${a.invariants.length} invariants hold`
    : `soak FAILED: ${failed} of ${a.invariants.length} invariants do not hold`)
  return out.join('\n')
}

const cell = (text: string): string => text.replaceAll('|', '\\|')

export function formatMarkdown (options: SoakOptions, a: Analysis, when: Date): string {
  const out: string[] = []
  out.push(`Run of ${when.toISOString().slice(0, 16).replace('T', ' ')} UTC — ${cell(describeProfile(options))}.`)
  out.push('')
  out.push('| result | invariant | value | expected |')
  out.push('|---|---|---|---|')
  for (const i of a.invariants) out.push(`| ${i.pass ? 'pass' : '**FAIL**'} | ${cell(i.label)} | ${cell(String(i.value))} | ${cell(i.expected)} |`)
  out.push('')
  out.push('| figure | value |')
  out.push('|---|---|')
  for (const [label, value] of figureRows(a)) out.push(`| ${cell(label.trim())} | ${cell(value)} |`)
  out.push('')
  out.push('| fault | at | down | getcode errors | sign-in errors | codes in window / late (slowest) | activations redelivered | getcode 200 again after |')
  out.push('|---|---|---|---|---|---|---|---|')
  for (const f of a.faults) {
    const how = f.garbage !== undefined ? `, ${f.garbage} messages` : f.caughtBusy === true ? ', killed mid-batch' : f.caughtBusy === false ? ', killed while idle' : ''
    out.push(`| ${f.kind} (${f.target})${how}${f.error !== undefined ? ` NOT INJECTED: ${cell(f.error)}` : ''} | +${f.at.toFixed(1)} s | ${f.downSeconds !== undefined ? `${f.downSeconds} s` : '–'} | ` +
      `${cell(tally(f.getcodeFailures))} | ${cell(tally(f.signInFailures))} | ${f.codesInWindow} / ${f.lateCodes}${f.maxActivationMs !== undefined ? ` (${ms(f.maxActivationMs)})` : ''} | ${f.redelivered} | ${ms(f.recoveryMs)} |`)
  }
  return out.join('\n') + '\n'
}
