import t from 'tap'
import { LETTERS, assertCode, generateCode, isCode, partitionKeyOf } from '../src/code.js'
import { CodeFormatError } from '../src/errors.js'

t.test('a code is three letters, the number and three letters joined by "-"', async (t) => {
  for (const n of [1, 7, 42, 161, 999, 1000]) {
    const code = generateCode(n)
    t.match(code, new RegExp(`^[A-Za-z]{3}-${n}-[A-Za-z]{3}$`))
    t.ok(isCode(code), `${code} passes the code check`)
  }
})

t.test('numbers outside 1..1000 or not integers are refused', async (t) => {
  for (const n of [0, -1, 1001, 1.5, Number.NaN]) {
    t.throws(() => generateCode(n), CodeFormatError, String(n))
  }
})

t.test('letters are uniform over a-z A-Z (no modulo bias)', async (t) => {
  const counts = new Map<string, number>()
  const codes = 20_000
  for (let i = 0; i < codes; i++) {
    const code = generateCode(1)
    for (const ch of code.replace('-1-', '')) counts.set(ch, (counts.get(ch) ?? 0) + 1)
  }
  t.same([...counts.keys()].sort(), LETTERS.split('').sort(), 'every letter of the alphabet appears, and nothing else')
  const expected = (codes * 6) / LETTERS.length
  const chiSquare = [...counts.values()].reduce((sum, c) => sum + ((c - expected) ** 2) / expected, 0)
  // 51 degrees of freedom: 120 is far beyond p = 1e-6 for a uniform source, while
  // `randomBytes % 52` (letters 0..47 drawn 5/256, 48..51 4/256) scores in the hundreds.
  t.ok(chiSquare < 120, `chi-square ${chiSquare.toFixed(1)} < 120`)
})

t.test('the code check refuses anything Table Storage or OData could misread', async (t) => {
  for (const bad of ['', 'abc-0-def', 'abc-1001-def', 'abc-01-def', 'ab-1-def', 'abc-1-de/', "abc-1-de'", 'abc-1-déf', 'abc-1-def ', ' or 1 eq 1', 'abc#1#def', 'abc-1-def\n', 42, null, undefined, {}]) {
    t.notOk(isCode(bad), JSON.stringify(bad) ?? String(bad))
  }
  t.throws(() => assertCode('abc/1/def'), { code: 'CODE_INVALID' })
  t.equal(assertCode('ojE-161-pTv'), 'ojE-161-pTv')
})

t.test('partition keys are two hex digits and spread codes', async (t) => {
  const keys = new Set<string>()
  for (let i = 0; i < 2000; i++) keys.add(partitionKeyOf(generateCode(500)))
  t.ok([...keys].every((key) => /^[0-9a-f]{2}$/.test(key)), 'two hex digits')
  t.ok(keys.size > 200, `${keys.size} of 256 partitions used by 2000 codes`)
  t.equal(partitionKeyOf('ojE-161-pTv'), partitionKeyOf('ojE-161-pTv'), 'stable')
})
