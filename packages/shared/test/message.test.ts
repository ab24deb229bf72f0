import t from 'tap'
import { createHmac } from 'node:crypto'
import { CodeHasher, codeIdOf } from '../src/code-hash.js'
import { type CodeMessage, decodeMessage, encodeMessage, withoutCodes } from '../src/message.js'
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
