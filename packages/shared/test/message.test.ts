import t from 'tap'
import { createHmac } from 'node:crypto'
import { CodeHasher, codeIdOf } from '../src/code-hash.js'
import { type CodeMessage, decodeMessage, decodePoison, encodeMessage, encodePoison, encodeSampleMessage, withoutCodes } from '../src/message.js'
import { MessageFormatError } from '../src/errors.js'
import { formatTimestamp, parseTimestamp } from '../src/time.js'

const hasher = new CodeHasher({ version: '1', value: 'k'.repeat(32) })
const hash = (code: string): string => hasher.hash(code)
const issuedAt = new Date('2026-11-26T03:32:22.574Z')
const message: CodeMessage = {
  v: 2,
  phase: 'activate',
  codeHash: hash('ojE-161-pTv'),
  issuedAt,
  expiresAt: new Date(issuedAt.getTime() + 600_000),
  subject: 'alice'
}

t.test('an envelope survives encode and decode, base64 by default', async (t) => {
  const text = encodeMessage(message)
  t.match(text, /^[A-Za-z0-9+/]+=*$/, 'base64 text, as Azure Functions expects')
  t.same(decodeMessage(text, 600), { message, source: 'envelope' })
  t.notMatch(Buffer.from(text, 'base64').toString('utf8'), 'ojE-161-pTv', 'the code itself is not in the message')
})

t.test('the hash is HMAC-SHA256 under the key: 64 hex characters, another key another hash', async (t) => {
  t.equal(hash('ojE-161-pTv'), createHmac('sha256', 'k'.repeat(32)).update('ojE-161-pTv').digest('hex'))
  t.match(hash('ojE-161-pTv'), /^[0-9a-f]{64}$/)
  t.not(new CodeHasher({ version: '2', value: 'j'.repeat(32) }).hash('ojE-161-pTv'), hash('ojE-161-pTv'))
  t.equal(codeIdOf(hash('ojE-161-pTv')), hash('ojE-161-pTv').slice(0, 8))
  t.throws(() => new CodeHasher({ version: '', value: '' }), { code: 'CODE_HASH_KEY_UNAVAILABLE', message: /"code hash key".*empty/ })
  t.throws(() => new CodeHasher({ version: '', value: ' '.repeat(40) }, undefined, 'code-hash-key'), { message: /"code-hash-key".*empty/ })
  t.throws(() => new CodeHasher({ version: '', value: 'short' }), { message: /too short/ })
})

t.test('plain text encoding also decodes', async (t) => {
  const text = encodeMessage({ ...message, phase: 'expire', etag: 'W/"x"' }, 'text')
  t.equal(JSON.parse(text).phase, 'expire')
  t.same(decodeMessage(text, 600).message, { ...message, phase: 'expire', etag: 'W/"x"' })
})

t.test("the original sample's Python dict payload reads as an activate of the code's hash", async (t) => {
  const { message: read, source } = decodeMessage("{'code': 'ojE-161-pTv', 'timestamp': '2026-11-26 03:32:22.574818'}", 600, hash)
  t.equal(source, 'legacy')
  t.equal(read.phase, 'activate')
  t.equal(read.codeHash, hash('ojE-161-pTv'))
  t.equal(read.issuedAt.toISOString(), '2026-11-26T03:32:22.574Z', 'timestamp read as UTC')
  t.equal(read.expiresAt.getTime() - read.issuedAt.getTime(), 600_000, 'lives the configured TTL')
})

t.test('the sample payload as plain JSON, and as base64, also reads', async (t) => {
  const json = JSON.stringify({ code: 'ojE-161-pTv', timestamp: '2026-11-26 03:32:22.574818' })
  t.equal(decodeMessage(json, 60, hash).message.codeHash, hash('ojE-161-pTv'))
  t.equal(decodeMessage(Buffer.from(json).toString('base64'), 60, hash).source, 'legacy')
})

t.test('an earlier v1 envelope with the code in clear reads, hashed', async (t) => {
  const v1 = JSON.stringify({ v: 1, phase: 'expire', code: 'ojE-161-pTv', issuedAt: issuedAt.toISOString(), expiresAt: message.expiresAt.toISOString(), subject: 'alice', etag: 'e' })
  t.same(decodeMessage(v1, 600, hash), { message: { ...message, phase: 'expire', etag: 'e' }, source: 'envelope-v1' })
})

t.test('a code in clear without a hash key, or a v2 envelope that carries one, is refused', async (t) => {
  t.throws(() => decodeMessage("{'code': 'ojE-161-pTv', 'timestamp': '2026-11-26 03:32:22'}", 600), { message: /no code hash key \(KEY_VAULT_URL\)/ })
  t.throws(() => decodeMessage(JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), code: 'ojE-161-pTv' }), 600, hash), { message: /codeHash only/ })
})

t.test('withoutCodes replaces every code by its id, in plain text and inside base64', async (t) => {
  const idOf = (code: string): string => codeIdOf(hash(code))
  const sample = "{'code': 'ojE-161-pTv', 'timestamp': '2026-11-26 03:32:22'}"
  t.equal(withoutCodes(sample, idOf), `{'code': '[code ${idOf('ojE-161-pTv')}]', 'timestamp': '2026-11-26 03:32:22'}`)
  t.equal(withoutCodes(Buffer.from(sample).toString('base64')), "{'code': '[code]', 'timestamp': '2026-11-26 03:32:22'}", 'decoded, then scrubbed')
  t.equal(withoutCodes(encodeMessage(message)), encodeMessage(message), 'text without a code is left alone')
})

t.test('anything else is refused with a typed error and a reason', async (t) => {
  const bad: Record<string, string> = {
    empty: '',
    garbage: 'hello world',
    'base64 of text': Buffer.from('hello').toString('base64'),
    'json array': '[1,2]',
    'json string': '"x"',
    'unknown version': JSON.stringify({ v: 3, phase: 'activate' }),
    'v2 without codeHash': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), codeHash: undefined }),
    'uppercase hash': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), codeHash: message.codeHash.toUpperCase() }),
    'short hash': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), codeHash: message.codeHash.slice(1) }),
    'code as hash': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), codeHash: 'ojE-161-pTv' }),
    'bad phase': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), phase: 'toggle' }),
    'bad code': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), v: 1, codeHash: undefined, code: "x' or 1 eq 1" }),
    'bad date': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), expiresAt: 'tomorrow' }),
    'expires before issue': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), expiresAt: '2000-01-01T00:00:00Z' }),
    'bad subject': JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')), subject: 'a b' }),
    'legacy without timestamp': "{'code': 'ojE-161-pTv'}",
    'legacy with bad code': "{'code': 'nope', 'timestamp': '2026-11-26 03:32:22.574818'}",
    'python with escapes': "{'code': 'ojE-161-pTv\\'', 'timestamp': '2026-11-26 03:32:22'}",
    huge: 'x'.repeat(70_000)
  }
  for (const [name, text] of Object.entries(bad)) {
    t.throws(() => decodeMessage(text, 600, hash), MessageFormatError, name)
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
  const codeHash = 'ab'.repeat(32)
  const message: CodeMessage = { v: 2, phase: 'activate', codeHash, issuedAt: new Date('2026-01-01T00:00:00Z'), expiresAt: new Date('2026-01-01T00:10:00Z'), trace: { traceparent, tracestate: 'vendor=x' } }
  t.same(decodeMessage(encodeMessage(message), 600).message.trace, { traceparent, tracestate: 'vendor=x' })
  const { trace: _, ...untraced } = message
  t.notOk('trace' in decodeMessage(encodeMessage(untraced), 600).message, 'none when the sender traced nothing')
  for (const bad of ['00-xyz', `${traceparent}\nX-Injected: 1`, 42, traceparent.toUpperCase()]) {
    const text = JSON.stringify({ ...JSON.parse(encodeMessage(untraced, 'text')) as object, traceparent: bad })
    const decoded = decodeMessage(text, 600).message
    t.equal(decoded.codeHash, codeHash)
    t.notOk('trace' in decoded, `ignored: ${JSON.stringify(bad)}`)
  }
})

t.test('the worker\'s receivesBefore mark travels in the envelope; one that is not a whole number ≥ 0 is ignored', async (t) => {
  for (const encoding of ['base64', 'text'] as const) {
    t.same(decodeMessage(encodeMessage(message, encoding, 4), 600), { message, source: 'envelope', receivesBefore: 4 }, encoding)
    t.equal(decodeMessage(encodeMessage(message, encoding, 0), 600).receivesBefore, 0, `${encoding}: 0 is a mark too`)
  }
  t.notOk('receivesBefore' in decodeMessage(encodeMessage(message), 600), 'unmarked')
  for (const bad of [-1, 1.5, '3', null]) {
    const text = JSON.stringify({ ...JSON.parse(encodeMessage(message, 'text')) as object, receivesBefore: bad })
    t.notOk('receivesBefore' in decodeMessage(text, 600), `ignored: ${JSON.stringify(bad)}`)
  }
  const legacy = JSON.stringify({ code: 'ojE-161-pTv', timestamp: '2026-11-26 03:32:22.574818', receivesBefore: 3 })
  t.notOk('receivesBefore' in decodeMessage(legacy, 600, hash), 'the sample\'s messages are never marked')
})

t.test('the sample\'s format as the original app wrote it, in each form the decoder reads', async (t) => {
  const sample = { code: 'ojE-161-pTv', issuedAt }
  t.equal(encodeSampleMessage(sample), "{'code': 'ojE-161-pTv', 'timestamp': '2026-11-26 03:32:22.574000'}", "Python's str() of the dict")
  t.equal(encodeSampleMessage(sample, 'json'), '{"code":"ojE-161-pTv","timestamp":"2026-11-26 03:32:22.574000"}')
  for (const form of ['python', 'json'] as const) {
    for (const encoding of ['text', 'base64'] as const) {
      const { message: read, source } = decodeMessage(encodeSampleMessage(sample, form, encoding), 600, hash)
      t.equal(source, 'legacy', `${form}, ${encoding}`)
      t.same(read, { v: 2, phase: 'activate', codeHash: hash('ojE-161-pTv'), issuedAt, expiresAt: new Date(issuedAt.getTime() + 600_000) })
    }
  }
})

t.test('a poison record holds the reason and the original, cut only to fit Azure\'s 64 KiB', async (t) => {
  const huge = { messageId: 'm', dequeueCount: 1, insertedOn: new Date(0), messageText: 'x'.repeat(64_000) }
  const text = encodePoison(huge, 'too big', 'base64')
  t.ok(text.length <= 60_000, 'fits in a queue message')
  t.match(JSON.parse(Buffer.from(text, 'base64').toString('utf8')), { reason: 'too big', truncatedFrom: 64_000 })
  t.match(JSON.parse(encodePoison({ ...huge, messageText: 'abc' }, 'r', 'text')), { text: 'abc', insertedOn: '1970-01-01T00:00:00.000Z' })
  t.same(decodePoison(text), { messageId: 'm', reason: 'too big' })
  t.same(decodePoison(encodePoison({ ...huge, messageText: 'abc' }, 'r', 'text')), { messageId: 'm', reason: 'r' })
})

t.test('a poison record keeps no code in clear', async (t) => {
  const poisoned = { messageId: 'm', dequeueCount: 1, insertedOn: new Date(0), messageText: encodeSampleMessage({ code: 'ojE-161-pTv', issuedAt }) }
  const withKey = JSON.parse(encodePoison(poisoned, 'r', 'text', hash)) as Record<string, unknown>
  t.match(withKey, { text: `{'code': '[code ${codeIdOf(hash('ojE-161-pTv'))}]', 'timestamp': '2026-11-26 03:32:22.574000'}`, codesScrubbed: true })
  t.notMatch(Buffer.from(encodePoison(poisoned, 'r', 'base64'), 'base64').toString('utf8'), 'ojE-161-pTv')
  t.match(JSON.parse(encodePoison(poisoned, 'r', 'text')), { text: /\[code\]/, codesScrubbed: true })
})

t.test('text that is no poison record is refused with a typed error', async (t) => {
  for (const bad of ['', 'not json', Buffer.from('[1]').toString('base64'), 'null']) {
    t.throws(() => decodePoison(bad), { code: 'MESSAGE_UNREADABLE' }, JSON.stringify(bad))
  }
})
