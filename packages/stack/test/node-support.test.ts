import t from 'tap'
import { nodeSupportWarning } from '../src/node-support.js'

const day = (iso: string): Date => new Date(`${iso}T12:00:00Z`)

t.test('an LTS line warns from its end-of-life date on, not before', async (t) => {
  t.equal(nodeSupportWarning('v20.20.2', day('2026-04-29')), undefined, 'Node 20 the day before its end of life')
  t.match(nodeSupportWarning('v20.20.2', day('2026-04-30')), /^Node v20\.20\.2 is end-of-life since 2026-04-30: it gets no security fixes\. codegate supports Node 24 .* and 22\.$/)
  t.equal(nodeSupportWarning('v22.11.0', day('2026-12-01')), undefined, 'Node 22 is in maintenance')
  t.match(nodeSupportWarning('v22.11.0', day('2027-04-30')), /end-of-life since 2027-04-30/)
  t.equal(nodeSupportWarning('v24.22.3', day('2026-12-01')), undefined, 'Node 24 is the active LTS')
})

t.test('releases older than the table are end-of-life; odd majors are not LTS; newer even ones pass', async (t) => {
  t.match(nodeSupportWarning('v16.20.2', day('2026-12-01')), /^Node v16\.20\.2 is end-of-life: /)
  t.match(nodeSupportWarning('v23.11.1', day('2026-12-01')), /^Node v23\.11\.1 is not a long-term-support release\./)
  t.equal(nodeSupportWarning('v26.1.0', day('2026-12-01')), undefined)
  t.equal(nodeSupportWarning('not a version'), undefined)
})
