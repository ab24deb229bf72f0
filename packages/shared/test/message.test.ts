import t from 'tap'
import { type CodeMessage, decodeMessage, encodeMessage } from '../src/message.js'
import { MessageFormatError } from '../src/errors.js'
import { formatTimestamp, parseTimestamp } from '../src/time.js'

const issuedAt = new Date('2026-11-26T03:32:22.574Z')
const message: CodeMessage = {
  v: 1,
  phase: 'activate',
  code: 'ojE-161-pTv',
  issuedAt,
  expiresAt: new Date(issuedAt.getTime() + 600_000),
  subject: 'alice'
}

t.test('an envelope survives encode and decode, base64 by default', async (t) => {
  const text = encodeMessage(message)
  t.match(text, /^[A-Za-z0-9+/]+=*$/, 'base64 text, as Azure Functions expects')
  t.same(decodeMessage(text, 600), { message, source: 'envelope' })
})

t.test('plain text encoding also decodes', async (t) => {
  const text = encodeMessage({ ...message, phase: 'expire', etag: 'W/"x"' }, 'text')
  t.equal(JSON.parse(text).phase, 'expire')
  t.same(decodeMessage(text, 600).message, { ...message, phase: 'expire', etag: 'W/"x"' })
})

t.test("the original sample's Python dict payload reads as an activate", async (t) => {
  const { message: read, source } = decodeMessage("{'code': 'ojE-161-pTv', 'timestamp': '2026-11-26 03:32:22.574818'}", 600)
  t.equal(source, 'legacy')
  t.equal(read.phase, 'activate')
  t.equal(read.code, 'ojE-161-pTv')
  t.equal(read.issuedAt.toISOString(), '2026-11-26T03:32:22.574Z', 'timestamp read as UTC')
  t.equal(read.expiresAt.getTime() - read.issuedAt.getTime(), 600_000, 'lives the configured TTL')
})

t.test('the sample payload as plain JSON, and as base64, also reads', async (t) => {
  const json = JSON.stringify({ code: 'ojE-161-pTv', timestamp: '2026-11-26 03:32:22.574818' })
  t.equal(decodeMessage(json, 60).message.code, 'ojE-161-pTv')
  t.equal(decodeMessage(Buffer.from(json).toString('base64'), 60).source, 'legacy')
})

t.test('anything else is refused with a typed error and a reason', async (t) => {
  const bad: Record<string, string> = {
    empty: '',
    garbage: 'hello world',
    'base64 of text': Buffer.from('hello').toString('base64'),
    'json array': '[1,2]',
    'json string': '"x"',
    'unknown version': JSON.stringify({ v: 2, phase: 'activate' }),
    'bad phase': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), phase: 'toggle' }),
    'bad code': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), code: "x' or 1 eq 1" }),
    'bad date': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), expiresAt: 'tomorrow' }),
    'expires before issue': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), expiresAt: '2000-01-01T00:00:00Z' }),
    'bad subject': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), subject: 'a b' }),
    'legacy without timestamp': "{'code': 'ojE-161-pTv'}",
    'legacy with bad code': "{'code': 'nope', 'timestamp': '2026-11-26 03:32:22.574818'}",
    'python with escapes': "{'code': 'ojE-161-pTv\\'', 'timestamp': '2026-11-26 03:32:22'}",
    huge: 'x'.repeat(70_000)
  }
  for (const [name, text] of Object.entries(bad)) {
    t.throws(() => decodeMessage(text, 600), MessageFormatError, name)
  }
  t.throws(() => decodeMessage('nope', 600), { code: 'MESSAGE_UNREADABLE' })
})

t.test("timestamps keep the original app's format", async (t) => {
  t.equal(formatTimestamp(new Date('2020-04-15T16:54:48.816Z')), '2020-04-15 16:54:48.816000')
  t.equal(parseTimestamp('2020-04-15 16:54:48.816549')?.toISOString(), '2020-04-15T16:54:48.816Z')
  t.equal(parseTimestamp('2020-04-15T16:54:48+02:00')?.toISOString(), '2020-04-15T14:54:48.000Z')
  t.equal(parseTimestamp('1'), undefined)
  t.equal(parseTimestamp('2020-13-45 99:99:99'), undefined)
})

t.test('the W3C trace context travels in the envelope; a malformed one is dropped, the code kept', async (t) => {
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
  const message: CodeMessage = { v: 1, phase: 'activate', code: 'ojE-161-pTv', issuedAt: new Date('2026-01-01T00:00:00Z'), expiresAt: new Date('2026-01-01T00:10:00Z'), trace: { traceparent, tracestate: 'vendor=x' } }
  t.same(decodeMessage(encodeMessage(message), 600).message.trace, { traceparent, tracestate: 'vendor=x' })
  const { trace: _, ...untraced } = message
  t.notOk('trace' in decodeMessage(encodeMessage(untraced), 600).message, 'none when the sender traced nothing')
  for (const bad of ['00-xyz', `${traceparent}\nX-Injected: 1`, 42, traceparent.toUpperCase()]) {
    const text = JSON.stringify({ ...JSON.parse(encodeMessage(untraced, 'text')) as object, traceparent: bad })
    const decoded = decodeMessage(text, 600).message
    t.equal(decoded.code, 'ojE-161-pTv')
    t.notOk('trace' in decoded, `ignored: ${JSON.stringify(bad)}`)
  }
})
