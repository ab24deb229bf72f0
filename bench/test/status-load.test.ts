import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { runStatusLoad } from '../src/status-load.js'
import { BEGIN, END, replaceOverloadSection } from '../src/overload-report.js'

/** Every third answer a 503, half of those without Retry-After. */
async function server (t: Test): Promise<{ url: string, requests: () => number, authorizations: Set<string | undefined> }> {
  let n = 0
  const authorizations = new Set<string | undefined>()
  const s = createServer((req, res) => {
    n++
    authorizations.add(req.headers.authorization)
    if (n % 3 === 0) res.writeHead(503, { 'content-type': 'application/json', ...(n % 2 === 0 ? { 'retry-after': '1' } : {}) }).end('{"error":"overloaded"}')
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"code":"x"}')
  })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { s.closeAllConnections(); s.close() })
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/api/v1/getcode`, requests: () => n, authorizations }
}

t.test('impatient clients: 200s and 503s are timed apart, and 503s without Retry-After are told apart', async (t) => {
  const { url, authorizations } = await server(t)
  // Long enough for a dozen answers even on a loaded machine; the assertions count, they do not time.
  const result = await runStatusLoad({ url, connections: 4, durationMs: 3000, warmupMs: 0, clients: 'impatient', headers: { authorization: 'Bearer t0ken' } })
  t.same([...authorizations], ['Bearer t0ken'], 'every request carried the given header (the api refuses getcode without a token)')
  const ok = result.statuses['200'] ?? 0
  const shed = result.statuses['503'] ?? 0
  t.ok(ok + shed >= 12, JSON.stringify(result.statuses))
  t.equal(result.ok.count, ok)
  t.equal(result.shed.count, shed)
  t.ok(result.shedWithRetryAfter > 0 && result.shedWithRetryAfter < shed, `${result.shedWithRetryAfter} of ${shed} with Retry-After`)
  t.equal(result.socketErrors, 0)
})

t.test('polite clients wait out Retry-After before sending again', async (t) => {
  const { url, requests } = await server(t)
  await runStatusLoad({ url, connections: 2, durationMs: 400, warmupMs: 0, clients: 'polite' })
  // Each connection stops for 1 s at its first 503 with Retry-After (at most the 6th request), which outlasts the run.
  t.ok(requests() <= 2 * 6 + 2, `${requests()} requests`)
})

t.test("the load generator's own event-loop delay is reported: a stalled client inflates every latency it times", async (t) => {
  const { url } = await server(t)
  // Stall this process (the generator's) for 300 ms in the middle of the run.
  setTimeout(() => { const end = performance.now() + 300; while (performance.now() < end); }, 200)
  const result = await runStatusLoad({ url, connections: 2, durationMs: 800, warmupMs: 0, clients: 'impatient' })
  // A busy machine only adds to the delay, so the bound holds however loaded the machine is.
  t.ok(result.clientLoopDelayP99Ms >= 250, `client loop delay p99 ${result.clientLoopDelayP99Ms} ms`)
})

t.test('the overload section of the page is replaced between its markers, or appended', async (t) => {
  const page = `# Benchmarks\n\ntext\n\n${BEGIN}\nold\n${END}\n\nafter\n`
  t.equal(replaceOverloadSection(page, 'new'), `# Benchmarks\n\ntext\n\n${BEGIN}\nnew\n${END}\n\nafter\n`)
  t.equal(replaceOverloadSection('# B\n', 'new'), `# B\n\n${BEGIN}\nnew\n${END}\n`)
})
