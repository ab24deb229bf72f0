/** The log scan: secrets and whole codes are found wherever they are; code ids are not codes. */
import t from 'tap'
import { LogWatch } from '../src/logs.js'

const KEY = 'soak-0123456789abcdef0123456789abcdef'

t.test('a secret added once the system runs (the code hash key) is found in later lines', async (t) => {
  const logs = new LogWatch([])
  logs.line('api', `before ${KEY}`)
  logs.watch({ label: 'code hash key', value: KEY })
  logs.line('vault', `after ${KEY}`)
  t.same(logs.summary(new Set()).secretHits, [{ process: 'vault', label: 'code hash key', lines: 1 }])
})

t.test('a secret anywhere in a line is counted per process and secret, never echoed', async (t) => {
  const logs = new LogWatch([{ label: 'third-party API key', value: KEY }, { label: 'short', value: 'abc' }])
  logs.line('api', `{"level":50,"msg":"call failed","url":"http://x/api/RandomNumber?code=${KEY}"}`)
  logs.line('api', `plain text ${KEY}`)
  logs.line('number-api', 'abc appears here but is too short to scan for')
  const summary = logs.summary(new Set())
  t.same(summary.secretHits, [{ process: 'api', label: 'third-party API key', lines: 2 }])
  t.notMatch(JSON.stringify(summary), KEY)
})

t.test('whole codes are found and named by id in the summary; code ids, UUIDs and subjects are not codes', async (t) => {
  const logs = new LogWatch([])
  logs.line('worker', '{"msg":"code.activated","codeId":"8c1f0a2b","messageId":"5f2c3a1e-8b7d-4123-9a1b-0c1d2e3f4a5b"}')
  logs.line('api', '{"msg":"sign-in refused","subject":"soak.m1x2y3.17"}')
  logs.line('api', '{"msg":"oops","detail":"row ojE-161-pTv not found"}')
  logs.line('api', 'abcd-12-xyz and abc-12-wxyz are not codes, nor is abc-0-xyz or abc-1001-xyz')
  const summary = logs.summary(new Set(['ojE-161-pTv']), () => '8c1f0a2b')
  t.same(summary.codeHits, [{ process: 'api', id: '8c1f0a2b', issued: true }])
  t.notMatch(JSON.stringify(summary), 'ojE-161-pTv')
})

t.test('the api events the checks need are parsed from pino lines; worker lines are only scanned', async (t) => {
  const logs = new LogWatch([])
  logs.line('api', '{"level":30,"time":10,"event":"code.issued","codeId":"8c1f0a2b","expiresAt":"2026-01-01T00:00:20.000Z","messageId":"m1","msg":"code issued"}')
  logs.line('api', '{"level":40,"time":11,"event":"request.failed","error":"queue_unavailable","msg":"Could not get you a code."}')
  logs.line('api', '{"level":50,"time":12,"msg":"unexpected error"}')
  logs.line('worker-2', '{"level":30,"time":13,"messageId":"m1","dequeueCount":2,"codeId":"8c1f0a2b","inserted":false,"lagMs":5000,"msg":"code.activated"}')
  logs.line('worker', '{"level":50,"time":14,"messageId":"g1","dequeueCount":1,"reason":"unreadable message: empty message","msg":"message.poisoned"}')
  logs.line('worker', 'not JSON {')
  const s = logs.summary(new Set())
  t.same(s.issued, [{ time: 10, codeId: '8c1f0a2b', expiresAt: '2026-01-01T00:00:20.000Z', messageId: 'm1' }])
  t.same(s.apiFailures, { queue_unavailable: 1 })
  t.equal(s.apiUnexpected, 1)
  t.notOk('workerEvents' in s, 'what the workers did comes from their events (worker-events.ts)')
  t.same(s.lines, { api: 3, 'worker-2': 1, worker: 2 })
  t.same(s.levels, { api: { warn: 1, error: 1, fatal: 0 }, worker: { warn: 0, error: 1, fatal: 0 } })
})
