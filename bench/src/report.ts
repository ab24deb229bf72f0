/**
 * The summary rows and the markdown of a result. docs/benchmarks.md keeps
 * its prose; only the part between the two markers is replaced by a run.
 */
import type { BenchResult, Row } from './result.js'
import { ratio, round } from './stats.js'

export const BEGIN = '<!-- bench:results:begin (written by `npm run bench`; edit outside the markers) -->'
export const END = '<!-- bench:results:end -->'

const num = (x: number | undefined | null, digits = 1): string => x === undefined || x === null || !Number.isFinite(x) ? '–' : String(round(x, digits))
const mb = (x: number | undefined): string => x === undefined || !Number.isFinite(x) ? '–' : `${num(x, 0)} MB`

export function rowsOf (result: Pick<BenchResult, 'figures'>): Row[] {
  const rows: Row[] = []
  const { getcode, worker, transactions, latency, memory } = result.figures
  const signin = transactions?.signIn
  if (signin !== undefined) {
    for (const c of signin.costs) {
      rows.push({
        figure: `3b. table transactions per sign-in, ${c.kind}`,
        measured: `${num(c.perSignIn, 2)} (limits table ${num(c.limitsTable, 2)})`,
        baseline: `codes table alone ${num(c.codesTable, 2)}`,
        ratio: ratio(c.perSignIn, c.codesTable, 2),
        target: c.kind.startsWith('approved') ? `limits ≤ ${signin.target}` : '',
        met: c.kind.startsWith('approved') ? c.limitsTable <= signin.target && c.unexpected === 0 : null
      })
    }
  }
  if (getcode !== undefined) {
    const g = getcode.best.getcode
    const b = getcode.best['bare-loop']
    const f = getcode.best['fastify-constant']
    const o = getcode.best['getcode-open']
    rows.push({
      figure: '1. getcode throughput, best concurrency',
      measured: `${num(g?.rps, 0)}/s (c=${num(g?.concurrency, 0)}), p50 ${num(g?.p50)} ms, p99 ${num(g?.p99)} ms`,
      baseline: `bare loop ${num(b?.rps, 0)}/s (c=${num(b?.concurrency, 0)}), p50 ${num(b?.p50)} ms, p99 ${num(b?.p99)} ms`,
      ratio: getcode.ratioToBareLoop,
      target: '≥ 0.9 × bare loop',
      met: getcode.met
    })
    rows.push({
      figure: '1. getcode codes per CPU-second (api, number-api, Azurite)',
      measured: `${num(g?.perCoreSecond, 0)}`,
      baseline: `bare loop ${num(b?.perCoreSecond, 0)}`,
      ratio: getcode.perCoreSecondRatio,
      target: '(noise check)',
      met: null
    })
    const s = getcode.shippedFlags
    if (s !== undefined) {
      const withFlags = getcode.best['getcode-shipped']
      rows.push({
        figure: `1. getcode with the heap flags \`${s.nodeFlags.join(' ')}\`${s.asShipped ? ' (as shipped)' : ' (tried, not shipped)'}`,
        measured: `${num(withFlags?.rps, 0)}/s (c=${num(withFlags?.concurrency, 0)}); by concurrency ${s.byConcurrency.map((c) => `c=${c.concurrency} ${num(c.ratio, 2)}`).join(', ')}`,
        baseline: `the same api without them ${num(g?.rps, 0)}/s (c=${num(g?.concurrency, 0)})`,
        ratio: s.ratio,
        target: `≥ ${s.target} × without`,
        met: s.met
      })
      rows.push({
        figure: '1. getcode codes per CPU-second, with ÷ without those flags',
        measured: `${num(withFlags?.perCoreSecond, 0)}`,
        baseline: `without ${num(g?.perCoreSecond, 0)}`,
        ratio: s.perCoreSecondRatio,
        target: '(noise check)',
        met: null
      })
    }
    rows.push({
      figure: '1. getcode with token check vs AUTH_MODE=none',
      measured: `${num(g?.rps, 0)}/s (c=${num(g?.concurrency, 0)}), p50 ${num(g?.p50)} ms, p99 ${num(g?.p99)} ms`,
      baseline: `same api, AUTH_MODE=none ${num(o?.rps, 0)}/s (c=${num(o?.concurrency, 0)}), p50 ${num(o?.p50)} ms, p99 ${num(o?.p99)} ms`,
      ratio: getcode.auth.ratio,
      target: `≥ ${getcode.auth.target} × AUTH_MODE=none`,
      met: getcode.auth.met
    })
    rows.push({
      figure: '1. getcode vs framework ceiling',
      measured: `${num(g?.rps, 0)}/s`,
      baseline: `Fastify constant route ${num(f?.rps, 0)}/s (c=${num(f?.concurrency, 0)})`,
      ratio: getcode.ratioToFastifyConstant,
      target: '(context)',
      met: null
    })
  }
  if (worker !== undefined) {
    for (const r of worker.ratios) {
      rows.push({
        figure: `2. worker activations/s, backlog ${r.backlog}`,
        measured: `${num(r.worker)}/s`,
        baseline: `bare loop ${num(r.bareLoop)}/s`,
        ratio: r.ratio,
        target: '≥ 0.9 × bare loop',
        met: Number.isFinite(r.ratio) ? r.ratio >= worker.target : null
      })
      rows.push({
        figure: `2. worker activations per CPU-second, backlog ${r.backlog}`,
        measured: `${num(r.workerPerCoreSecond, 0)}`,
        baseline: `bare loop ${num(r.bareLoopPerCoreSecond, 0)}`,
        ratio: r.perCoreSecondRatio,
        target: '(noise check)',
        met: null
      })
    }
  }
  if (transactions !== undefined) {
    rows.push({
      figure: '3. storage transactions per code, at load',
      measured: `${num(transactions.atLoad.perCode, 3)} (${transactions.atLoad.codes} codes, counted; ${transactions.atLoad.idlePollsLeftOut} idle polls between the waves left out)`,
      baseline: '5 + 2/32 = 5.0625 (the floor: five calls and two shares of a full receive)',
      ratio: ratio(transactions.atLoad.perCode, transactions.target, 3),
      target: '≤ 5.0625',
      met: transactions.met
    })
    rows.push({
      figure: '3. idle polling, one worker',
      measured: `${num(transactions.idle.receivesPerSecond, 2)} receives/s`,
      baseline: 'back-off cap 1 s (config): ≤ 2/s',
      ratio: null,
      target: '(reported)',
      met: null
    })
    rows.push({
      figure: `3. transactions per code at ${transactions.steady.rate}/s, each signed in once`,
      measured: `${num(transactions.steady.perCode, 2)}`,
      baseline: `at load, no sign-in: ${num(transactions.atLoad.perCode, 2)}`,
      ratio: ratio(transactions.steady.perCode, transactions.atLoad.perCode),
      target: '(reported)',
      met: null
    })
  }
  if (latency !== undefined) {
    rows.push({
      figure: '4. issue-to-valid from idle',
      measured: `p50 ${num(latency.idle.issueToValid.p50, 0)} ms, p99 ${num(latency.idle.issueToValid.p99, 0)} ms (${latency.idle.samples} codes)`,
      baseline: `getcode itself p99 ${num(latency.idle.getcode.p99, 0)} ms; worker back-off cap 1000 ms`,
      ratio: null,
      target: `p99 ≤ ${latency.targets.idleP99Ms} ms`,
      met: latency.met.idle
    })
    rows.push({
      figure: `4. issue-to-valid at ${latency.steady.rate} codes/s`,
      measured: `p50 ${num(latency.steady.issueToValid.p50, 0)} ms, p99 ${num(latency.steady.issueToValid.p99, 0)} ms (${latency.steady.samples} codes, TTL ${latency.steady.ttlSeconds} s${(latency.steady.shed ?? 0) > 0 ? `; ${latency.steady.shed} getcodes shed with 503` : ''})`,
      baseline: `getcode itself p99 ${num(latency.steady.getcode.p99, 0)} ms`,
      ratio: null,
      target: `p99 ≤ ${latency.targets.steadyP99Ms} ms`,
      met: latency.met.steady
    })
  }
  if (memory !== undefined) {
    const e = memory.endOfLoad
    const recommended = memory.runs.find((r) => r.nodeFlags.length > 0)
    rows.push({
      figure: '5. api RSS at the end of load, Node defaults (not as shipped)',
      measured: mb(e.api),
      baseline: `bare getcode loop ${mb(e.bareGetcodeLoop)}`,
      ratio: ratio(e.api, e.bareGetcodeLoop),
      target: '(reference)',
      met: null
    })
    rows.push({
      figure: '5. worker RSS at the end of load, Node defaults (not as shipped)',
      measured: mb(e.worker),
      baseline: `bare worker loop ${mb(e.bareWorkerLoop)}`,
      ratio: ratio(e.worker, e.bareWorkerLoop),
      target: '(reference)',
      met: null
    })
    if (recommended !== undefined) {
      const none = memory.runs.find((r) => r.nodeFlags.length === 0)
      rows.push({
        figure: `5. api / worker RSS as shipped (Dockerfile NODE_OPTIONS, npm start): \`${recommended.nodeFlags.join(' ')}\`${recommended.workerNodeFlags !== undefined ? ` / \`${recommended.workerNodeFlags.join(' ')}\`` : ''}`,
        measured: `${mb(recommended.api?.rssMb)} / ${mb(recommended.worker?.rssMb)} (getcode ${num(recommended.getcodePerSecond, 0)}/s)`,
        baseline: none !== undefined
          ? `same load, no flags: ${mb(none.api?.rssMb)} / ${mb(none.worker?.rssMb)} (getcode ${num(none.getcodePerSecond, 0)}/s)`
          : `no flags, end of load: ${mb(e.api)} / ${mb(e.worker)}`,
        ratio: ratio(recommended.api?.rssMb, none?.api?.rssMb ?? e.api),
        target: `≤ ${memory.targets.apiMb} / ${memory.targets.workerMb} MB`,
        met: memory.metWithRecommendedFlags
      })
    }
  }
  return rows
}

const verdict = (met: boolean | null): string => met === null ? '' : met ? 'met' : '**missed**'

export function summaryTable (rows: Row[]): string {
  const lines = ['| figure | measured | baseline (same run) | ratio | target | |', '|---|---|---|---|---|---|']
  for (const r of rows) lines.push(`| ${r.figure} | ${r.measured} | ${r.baseline} | ${r.ratio === null || !Number.isFinite(r.ratio) ? '' : num(r.ratio, 2)} | ${r.target} | ${verdict(r.met)} |`)
  return lines.join('\n')
}

const cpuText = (cpu: Record<string, number>): string => Object.entries(cpu).filter(([k]) => k !== 'machine').map(([k, v]) => `${k} ${num(v, 2)}`).join(', ')

/** The generated part of docs/benchmarks.md: summary, conditions, and each figure's detail. */
export function resultMarkdown (result: BenchResult): string {
  const m = result.machine
  const out: string[] = []
  out.push(`Mode \`${result.mode}\`, run ${result.startedAt} (${num(result.wallSeconds, 0)} s): \`${result.command}\``)
  out.push('')
  out.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}; Node ${m.node}; Azurite ${m.azurite}.`)
  out.push(`Load before: \`${result.loadBefore.uptime}\``)
  out.push(`Load after: \`${result.loadAfter.uptime}\``)
  if ((result.apiLogLevel ?? 'info') !== 'info') out.push(`The api ran with LOG_LEVEL=${result.apiLogLevel} in the getcode runs.`)
  if (result.nodeFlags.length > 0) out.push(`Node flags for api, worker and bare loops: \`${result.nodeFlags.join(' ')}\``)
  out.push('')
  out.push(summaryTable(result.rows))
  const { getcode, worker, transactions, latency, memory } = result.figures
  const signin = transactions?.signIn
  if (signin !== undefined) {
    out.push('', `#### 3b. table transactions per sign-in (${signin.signIns} of each kind, 8 at a time, counted at a proxy)`, '')
    out.push('| sign-in | per sign-in | codes table | limits table | by operation |', '|---|---|---|---|---|')
    for (const c of signin.costs) out.push(`| ${c.kind} | ${num(c.perSignIn, 2)} | ${num(c.codesTable, 2)} | ${num(c.limitsTable, 2)} | ${Object.entries(c.byOperation).map(([op, v]) => `${op} ${num(v, 2)}`).join(', ')} |`)
  }
  if (getcode !== undefined) {
    out.push('', `#### 1. getcode (${getcode.durationMs / 1000} s per run, load generator: ${getcode.driver})`, '')
    out.push('| target | concurrency | req/s | p50 ms | p99 ms | errors | cores busy (by process) |', '|---|---|---|---|---|---|---|')
    for (const r of getcode.runs) out.push(`| ${r.target} | ${r.concurrency} | ${num(r.rps, 0)} | ${num(r.latency.p50)} | ${num(r.latency.p99)} | ${r.errors} | ${cpuText(r.cpu)} |`)
  }
  if (worker !== undefined) {
    out.push('', `#### 2. worker (batches of ${worker.batchSize}, ${worker.maxInFlight} in flight)`, '')
    out.push('| consumer | backlog | activations/s | seconds | receive p50 / p99 ms | cores busy (by process) |', '|---|---|---|---|---|---|')
    for (const r of worker.runs) out.push(`| ${r.target} | ${r.backlog} | ${num(r.perSecond)} | ${num(r.seconds, 2)} | ${r.receiveLatency !== undefined ? `${num(r.receiveLatency.p50)} / ${num(r.receiveLatency.p99)}` : ''} | ${cpuText(r.cpu)} |`)
  }
  if (transactions !== undefined) {
    out.push('', `#### 3. storage transactions (counted at a proxy; TTL ${transactions.ttlSeconds} s)`, '')
    const ops = [...new Set([...Object.keys(transactions.atLoad.counts), ...Object.keys(transactions.steady.counts)])].sort()
    out.push(`| operation | per code at load (${transactions.atLoad.codes} codes) | per code at ${transactions.steady.rate}/s, signed in (${transactions.steady.codes} codes) | idle, per second |`, '|---|---|---|---|')
    for (const op of ops) {
      out.push(`| ${op} | ${num(transactions.atLoad.perCodeByOperation[op], 3)} | ${num(transactions.steady.perCodeByOperation[op], 3)} | ${num((transactions.idle.counts[op] ?? 0) / transactions.idle.seconds, 2)} |`)
    }
    out.push(`| **total** (keys with \`:\` are breakdowns, not added) | **${num(transactions.atLoad.perCode, 3)}** | **${num(transactions.steady.perCode, 3)}** | **${num(transactions.idle.perSecond, 2)}** |`)
  }
  if (latency !== undefined) {
    out.push('', `#### 4. issue-to-valid (sign-in tried every ${latency.pollMs.idle} ms from idle, ${latency.pollMs.steady} ms at load)`, '')
    out.push('| phase | codes | p50 ms | p90 ms | p99 ms | max ms | getcode p50 / p99 ms |', '|---|---|---|---|---|---|---|')
    const l = latency
    out.push(`| from idle (gap ${l.idle.gapMs} ms) | ${l.idle.samples} | ${num(l.idle.issueToValid.p50)} | ${num(l.idle.issueToValid.p90)} | ${num(l.idle.issueToValid.p99)} | ${num(l.idle.issueToValid.max)} | ${num(l.idle.getcode.p50)} / ${num(l.idle.getcode.p99)} |`)
    out.push(`| ${l.steady.rate} codes/s (TTL ${l.steady.ttlSeconds} s) | ${l.steady.samples} | ${num(l.steady.issueToValid.p50)} | ${num(l.steady.issueToValid.p90)} | ${num(l.steady.issueToValid.p99)} | ${num(l.steady.issueToValid.max)} | ${num(l.steady.getcode.p50)} / ${num(l.steady.getcode.p99)} |`)
    out.push('', `Cores busy at ${l.steady.rate} codes/s: ${cpuText(l.steady.cpu)}.`)
  }
  if (memory !== undefined) {
    out.push('', '#### 5. memory (VmRSS at the end, VmHWM = peak)', '')
    out.push('| when | process | RSS MB | peak MB |', '|---|---|---|---|')
    const { getcode: g, worker: w, latency: l } = result.figures
    const line = (when: string, proc: string, mem: { rssMb: number, peakRssMb: number } | undefined): void => {
      if (mem !== undefined) out.push(`| ${when} | ${proc} | ${num(mem.rssMb, 0)} | ${num(mem.peakRssMb, 0)} |`)
    }
    line('after the getcode runs (fig. 1)', 'api', g?.apiMemory)
    line('after the getcode runs (fig. 1)', `api with \`${g?.shippedFlags?.nodeFlags.join(' ') ?? ''}\``, g?.shippedFlags?.apiMemory)
    line('after the getcode runs (fig. 1)', 'bare getcode loop', g?.bareLoopMemory)
    line('after the largest backlog (fig. 2)', 'worker', w?.workerMemory)
    line('after the largest backlog (fig. 2)', 'bare worker loop', w?.bareLoopMemory)
    line(`after ${l?.steady.rate ?? ''} codes/s (fig. 4)`, 'api', l?.memory.api)
    line(`after ${l?.steady.rate ?? ''} codes/s (fig. 4)`, 'worker', l?.memory.worker)
    for (const r of memory.runs) {
      const flags = r.nodeFlags.length > 0 ? `\`${r.nodeFlags.join(' ')}\`` : 'no flags'
      line(`mixed load ${r.seconds} s, ${flags}`, 'api', r.api)
      const workerFlags = r.workerNodeFlags !== undefined ? (r.workerNodeFlags.length > 0 ? `\`${r.workerNodeFlags.join(' ')}\`` : 'no flags') : flags
      line(`mixed load ${r.seconds} s, ${workerFlags}`, 'worker', r.worker)
    }
  }
  return out.join('\n')
}

/** `doc` with the generated part replaced (or appended, with markers, when it has none). */
export function replaceSection (doc: string, generated: string): string {
  const section = `${BEGIN}\n${generated}\n${END}`
  const begin = doc.indexOf(BEGIN)
  const end = doc.indexOf(END)
  if (begin >= 0 && end > begin) return doc.slice(0, begin) + section + doc.slice(end + END.length)
  return `${doc.trimEnd()}\n\n${section}\n`
}
