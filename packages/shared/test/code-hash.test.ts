/**
 * The keyed hash codes are stored, queued and logged under: what a reader of
 * storage or logs holds must not let them sign in, nor be turned back into a
 * code without the key. Reading the key ring from Key Vault is tested against
 * dev-vault in packages/shared-integration/test/code-hash.test.ts.
 */
import t from 'tap'
import {
  CODE_HASH_PATTERN,
  CODE_ID_LENGTH,
  CodeHasher,
  CodeHashKeyError,
  codeIdOf,
  isCodeHash,
  MIN_CODE_HASH_KEY_LENGTH,
  randomHasher
} from '../src/code-hash.js'

const KEY = 'code-hash-test-key-0123456789abcdef'
const OTHER_KEY = 'code-hash-other-key-0123456789abcdef'
const CODE = 'ojE-161-pTv'
const keyOf = (value: string, version = ''): { version: string, value: string } => ({ version, value })

t.test('the hash is HMAC-SHA256 of the code\'s UTF-8 under the key, in lowercase hex: stable across releases, or every stored code is lost', async (t) => {
  // Computed outside this code base: printf '%s' 'ojE-161-pTv' | openssl dgst -sha256 -hmac 'code-hash-test-key-0123456789abcdef'
  t.equal(new CodeHasher(keyOf(KEY)).hash(CODE), '7bf26d6339214a8c505a2438dee3cb16e5145151212e15a45b9c1fc2265b397b')
  t.equal(new CodeHasher(keyOf(KEY)).hash(CODE), new CodeHasher(keyOf(KEY, 'another-version')).hash(CODE), 'the version names the key; only its value counts')
})

t.test('the hash holds nothing of the code and is a valid table key', async (t) => {
  const hash = new CodeHasher(keyOf(KEY)).hash(CODE)
  t.ok(isCodeHash(hash))
  t.match(hash, new RegExp(CODE_HASH_PATTERN))
  for (const part of CODE.split('-')) t.notOk(hash.includes(part), `no "${part}" in the hash`)
  t.not(hash, new CodeHasher(keyOf(KEY)).hash(CODE.toLowerCase()), 'codes differ by case, so do their hashes')
})

t.test('another key gives another hash: a hash cannot be checked, nor codes tried against it, without the key', async (t) => {
  t.not(new CodeHasher(keyOf(KEY)).hash(CODE), new CodeHasher(keyOf(OTHER_KEY)).hash(CODE))
  t.not(randomHasher().hash(CODE), randomHasher().hash(CODE), 'each random key ring has a key of its own')
})

t.test('a log names a code by the first 8 hex characters of its hash', async (t) => {
  const hash = new CodeHasher(keyOf(KEY)).hash(CODE)
  t.equal(CODE_ID_LENGTH, 8)
  t.equal(codeIdOf(hash), hash.slice(0, 8))
  t.notOk(isCodeHash(codeIdOf(hash)), 'an id is not a hash: it cannot stand for one')
})

t.test('isCodeHash takes exactly 64 lowercase hex characters, nothing around them', async (t) => {
  const hash = new CodeHasher(keyOf(KEY)).hash(CODE)
  t.ok(isCodeHash('0'.repeat(64)))
  for (const bad of [hash.toUpperCase(), hash.slice(1), `${hash}0`, `${hash}\n`, `\n${hash}`, ` ${hash}`, `${hash.slice(0, 63)}g`, CODE, '', "' or 1=1 --"]) {
    t.notOk(isCodeHash(bad), JSON.stringify(bad))
  }
  for (const bad of [undefined, null, 42, ['0'.repeat(64)], { toString: () => '0'.repeat(64) }]) t.notOk(isCodeHash(bad), String(bad))
})

t.test('a key shorter than 32 characters, empty or blank is refused, naming the secret and not the value', async (t) => {
  t.equal(MIN_CODE_HASH_KEY_LENGTH, 32)
  const short = 'k'.repeat(MIN_CODE_HASH_KEY_LENGTH - 1)
  const cases: Array<[string, RegExp]> = [
    ['', /secret "hash-key".*empty/],
    [' '.repeat(40), /secret "hash-key".*empty/],
    [short, /secret "hash-key".*too short; it must be at least 32 characters/],
    // Blanks around a short key do not make it long enough.
    [`  ${short}\n\n`, /too short/]
  ]
  for (const [value, message] of cases) {
    const err = t.throws(() => new CodeHasher(keyOf(value), undefined, 'hash-key'), CodeHashKeyError, JSON.stringify(value)) as unknown as CodeHashKeyError
    t.match(err, { code: 'CODE_HASH_KEY_UNAVAILABLE', message })
    if (value.trim() !== '') t.notOk(err.message.includes(value.trim()), 'the key itself is not in the message')
  }
  t.doesNotThrow(() => new CodeHasher(keyOf('k'.repeat(MIN_CODE_HASH_KEY_LENGTH))), '32 characters are enough')
})

t.test('a short previous key is refused too, even though it would only be tried', async (t) => {
  t.throws(() => new CodeHasher(keyOf(KEY), keyOf('short'), 'hash-key'), { code: 'CODE_HASH_KEY_UNAVAILABLE', message: /secret "hash-key"/ })
})

t.test('during a rotation a code is stored under the current key and found under either', async (t) => {
  const rotating = new CodeHasher(keyOf(OTHER_KEY, 'v2'), keyOf(KEY, 'v1'))
  const underCurrent = new CodeHasher(keyOf(OTHER_KEY)).hash(CODE)
  const underPrevious = new CodeHasher(keyOf(KEY)).hash(CODE)
  t.equal(rotating.hash(CODE), underCurrent, 'new codes: the current key only')
  t.same(rotating.candidates(CODE), [underCurrent, underPrevious], 'sign-in: current first, then previous')
  t.same(new CodeHasher(keyOf(KEY)).candidates(CODE), [underPrevious], 'no rotation: one candidate')
})

