/** The printed table: one pass/FAIL row per invariant, examples under a failure, and the same figures as Markdown. */
import t from 'tap'
import { analyze } from '../src/analyze.js'
import { formatMarkdown, formatReport, formatStats } from '../src/report.js'
import type { FaultRecord, IssuedCode } from '../src/records.js'
import { baseline, codes4, options, recordWith, T0 } from './fixtures/records.js'

const codes = codes4()
const down: FaultRecord = { kind: 'number-api-down', target: 'number-api', plannedAt: T0, startedAt: T0 + 100, downAt: T0 + 200, upAt: T0 + 2200, endedAt: T0 + 2200 }
const getcodes = [{ sentAt: T0 + 300, answeredAt: T0 + 310, status: 502, error: 'third_party_failed' }, { sentAt: T0 + 2300, answeredAt: T0 + 2320, status: 200 }]

t.test('a passing run: every invariant row starts with pass, and the last line says so', async (t) => {
  const a = analyze(recordWith(codes, { signIns: baseline(codes[0] as IssuedCode), faults: [down], getcodes }))
  const text = formatReport(options, a)
  const rows = text.split('\n').filter((l) => /^(pass|FAIL) /.test(l))
  t.equal(rows.length, a.invariants.length)
  t.ok(rows.every((r) => r.startsWith('pass ')))
  t.match(text, /soak passed: all \d+ invariants hold$/)
  t.match(text, /number-api-down \(number-api\); down 2 s; getcode errors: 1× 502 third_party_failed/)
})

t.test('a failing run: the FAIL row is followed by examples named by code id and the verdict names the count', async (t) => {
  const { seenAt: _, ...unseen } = codes[1] as IssuedCode
  const a = analyze(recordWith([codes[0] as IssuedCode, unseen], { signIns: baseline(codes[0] as IssuedCode) }))
  const lines = formatReport(options, a).split('\n')
  const at = lines.findIndex((l) => l.startsWith('FAIL') && l.includes('never valid'))
  t.ok(at >= 0)
  t.match(lines[at + 1], /^ {8}e\.g\. c0de0001 \(#1\)/)
  t.notMatch(lines.join('\n'), 'abc-2-xyz', 'no whole code in the report')
  t.match(lines.at(-1), /^soak FAILED: \d+ of \d+ invariants do not hold$/)
})

t.test('Markdown: the invariants, the figures and the faults as tables', async (t) => {
  const a = analyze(recordWith(codes, { signIns: baseline(codes[0] as IssuedCode), faults: [down], getcodes }))
  const md = formatMarkdown(options, a, new Date(T0))
  t.match(md, /^Run of 2026-01-01 00:00 UTC/)
  t.equal(md.split('\n').filter((l) => l.startsWith('| pass |')).length, a.invariants.length)
  t.match(md, /\| number-api-down \(number-api\) \| \+0\.1 s \| 2 s \| 1× 502 third_party_failed \|/)
})

t.test('latency figures', async (t) => {
  t.equal(formatStats({ n: 0 }), 'n=0')
  t.equal(formatStats({ n: 3, p50: 40, p95: 900, p99: 12_000, max: 12_345 }), 'n=3  p50 40 ms  p95 900 ms  p99 12.0 s  max 12.3 s')
})
