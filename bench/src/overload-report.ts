/** The overload section of docs/benchmarks.md, made from a run's result. */
import type { RunRecord } from './machine.js'
import type { OverloadFigures } from './scenarios/overload.js'

export interface OverloadResult extends RunRecord {
  figures: OverloadFigures
}

export const BEGIN = '<!-- bench:overload:begin (written by `npm run bench:overload`; edit outside the markers) -->'
export const END = '<!-- bench:overload:end -->'

const yes = (ok: boolean): string => (ok ? 'met' : '**missed**')
const num = (x: number | undefined | null): string => (x === undefined || x === null || Number.isNaN(x) ? '–' : String(x))

export function overloadMarkdown (result: OverloadResult): string {
  const { figures: f, machine: m } = result
  const lines = [
    `Run ${result.startedAt} (${result.wallSeconds} s): \`${result.command}\``,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}; api flags \`${f.nodeFlags.join(' ')}\`; ${f.durationMs / 1000} s per run.`,
    `Load before: \`${result.loadBefore.uptime}\``,
    `Load after: \`${result.loadAfter.uptime}\``,
    '',
    `Peak (limits off): **${f.peak.okPerSecond}/s at c = ${f.peak.concurrency}** (p99 ${f.peak.p99} ms); tried ${f.peak.tried.map((t) => `c=${t.concurrency}: ${t.okPerSecond}/s`).join(', ')}.`,
    '',
    '| api | clients | c (× peak) | 200s/s | ÷ peak (≥ 0.9) | 200 p50 / p99 ms (p99 ≤ 500) | 503s/s | 503 p50 / p99 / max ms (p99 ≤ 50) | 503 with Retry-After | other answers | api peak RSS MB (≤ 150) | restarted | client loop delay p99 ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const config of f.configs) {
    for (const run of config.runs) {
      const r = run.result
      const shed = r.statuses['503'] ?? 0
      const others = Object.entries(r.statuses).filter(([s]) => s !== '200' && s !== '503').map(([s, n]) => `${n}×${s}`)
      if (r.socketErrors > 0) others.push(`${r.socketErrors} socket errors`)
      lines.push(`| ${config.config} | ${run.clients} | ${r.connections} (${run.multiple}×) | ${r.okPerSecond} | ${num(run.okRatio)} ${yes(run.met.throughput)} | ${num(r.ok.p50)} / ${num(r.ok.p99)} ${yes(run.met.okP99)} | ${Math.round(shed / (r.durationMs / 1000))} | ${shed > 0 ? `${num(r.shed.p50)} / ${num(r.shed.p99)} / ${num(r.shed.max)} ${yes(run.met.shedFast)}` : '–'} | ${r.shedWithRetryAfter} of ${shed} | ${others.length > 0 ? others.join(', ') : 'none'} | ${num(config.apiPeakRssMb)} ${yes((config.apiPeakRssMb ?? Infinity) <= f.targets.rssMb)} | ${config.apiRestarted ? '**yes**' : 'no'} | ${num(r.clientLoopDelayP99Ms)} |`)
    }
  }
  const after = f.configs.filter((c) => c.config !== 'before')
  lines.push('', ...after.map((c) => `${c.config} ${c.env !== undefined && Object.keys(c.env).length > 0 ? `(\`${Object.entries(c.env).map(([k, v]) => `${k}=${v}`).join(' ')}\`)` : '(the defaults of services/api/src/config.ts)'}: every target ${c.met ? 'met' : '**not** met'}.`))
  return lines.join('\n')
}

/** `page` with the text between the overload markers replaced (the markers appended if missing). */
export function replaceOverloadSection (page: string, markdown: string): string {
  const begin = page.indexOf(BEGIN)
  const end = page.indexOf(END)
  if (begin < 0 || end < begin) return `${page.trimEnd()}\n\n${BEGIN}\n${markdown}\n${END}\n`
  return `${page.slice(0, begin + BEGIN.length)}\n${markdown}\n${page.slice(end)}`
}
