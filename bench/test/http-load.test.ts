import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { parseResponse, runBuiltin } from '../src/http-load.js'

t.test('a response is complete only once its whole body is there', async (t) => {
  const head = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 7\r\n\r\n'
  t.equal(parseResponse(Buffer.from(head + '{"a":')), undefined)
  t.same(parseResponse(Buffer.from(head + '{"a":1}HTTP/1.1')), { status: 200, length: head.length + 7 })
  const chunked = 'HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'
  t.same(parseResponse(Buffer.from(chunked)), { status: 503, length: chunked.length })
  t.equal(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\n')), undefined)
})

t.test('the built-in generator keeps each connection busy and counts answers by status', async (t) => {
  let n = 0
  const server = createServer((_req, res) => {
    n++
    res.writeHead(n % 10 === 0 ? 500 : 200, { 'content-type': 'application/json' })
    res.end('{"ok":true}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const { port } = server.address() as AddressInfo
  // Counting is under test, not speed: no warm-up to lose answers to, and long enough for
  // every tenth answer to be a 500 on a loaded machine (0 answers in 300 ms were seen at load 40).
  const result = await runBuiltin({ url: `http://127.0.0.1:${port}/x`, connections: 4, durationMs: 3000, warmupMs: 0 })
  t.equal(result.driver, 'builtin')
  t.ok(result.ok > 0, `${result.ok} answers`)
  t.ok(result.errors > 0 && (result.statuses['500'] ?? 0) === result.errors, '500s are counted as errors')
  t.equal(result.latency.count, result.ok)
  t.ok(result.latency.p99 >= result.latency.p50)
})
