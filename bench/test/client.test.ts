/**
 * The bench's api client: a getcode the api sheds (503) is counted by the
 * latency figure, not a crash of the whole run (a full run on Node 20 died
 * at its last figure on one 503).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { getCode, getCodeOrShed, GetcodeRefused, type ApiCaller } from '../src/client.js'

t.test('getCodeOrShed: 503 is "shed", a code is a code, anything else still throws', async (t) => {
  const answers = [503, 200, 500]
  const server = createServer((req, res) => {
    const status = answers.shift() ?? 500
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(status === 200 ? { code: 'abc-123-xyz' } : { error: 'overloaded' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const api: ApiCaller = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, issueToken: 't', verifyToken: 't' }

  t.equal(await getCodeOrShed(api), 'shed')
  t.match(await getCodeOrShed(api), { code: 'abc-123-xyz' })
  await t.rejects(getCodeOrShed(api), new GetcodeRefused(500))
  answers.push(503)
  await t.rejects(getCode(api), GetcodeRefused, 'getCode itself still refuses a 503')
})
