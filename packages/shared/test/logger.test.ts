/** The log settings every process shares: keys, tokens and whole codes never reach a line. */
import { Writable } from 'node:stream'
import t from 'tap'
import pino from 'pino'
import { loggerOptions, maskSecret } from '../src/logger.js'

/** One logger with the shared settings, and the lines it wrote, parsed. */
function capture (): { log: pino.Logger, lines: () => Record<string, unknown>[] } {
  const out: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { out.push(chunk.toString()); done() } })
  return { log: pino(loggerOptions('test', 'info'), stream), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) }
}

t.test('secrets and codes are redacted wherever the shared paths name them', async (t) => {
  const { log, lines } = capture()
  log.info({ key: 'k-secret', token: 't-secret', code: 'ojE-161-pTv', vault: { secret: 's-secret', apiKey: 'a-secret' }, codeId: 'c1' }, 'x')
  log.info({ req: { method: 'GET', url: '/api/RandomNumber?code=function-key', headers: { authorization: 'Bearer t', 'x-functions-key': 'f' } } }, 'request')
  const text = JSON.stringify(lines())
  t.notMatch(text, /[ktsa]-secret|ojE-161-pTv|function-key|Bearer t/, 'no value under a redacted path')
  t.match(lines()[0], { key: '[redacted]', token: '[redacted]', code: '[redacted]', vault: { secret: '[redacted]', apiKey: '[redacted]' }, codeId: 'c1' })
  t.match(lines()[1], { req: { url: '/api/RandomNumber' } }, 'a request is logged by its path, without the query')
})

t.test('a masked secret says that it is set and how long it is, not what it is', async (t) => {
  t.equal(maskSecret('short'), '***')
  t.equal(maskSecret('abcdefghijklmnop'), 'ab…(16 chars)')
})
