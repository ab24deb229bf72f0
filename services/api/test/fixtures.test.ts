/** The fixtures' own rules, where a wrong one would make other tests flaky or blind. */
import t from 'tap'
import { WHOLE_CODE } from './fixtures/parts.js'

t.test('WHOLE_CODE finds a code standing alone, not a piece of a UUID', async (t) => {
  for (const text of ['ojE-161-pTv', '{"code":"ojE-161-pTv"}', 'code ojE-161-pTv logged', 'x=abc-1-DEF;']) t.match(text, WHOLE_CODE, text)
  // Hex letters are letters: "…9bcd-4569-abcd…" holds "bcd-4569-abc", which the unbounded pattern took for a code.
  for (const text of ['1f2e9bcd-4569-abcd-8874-d3855d2fd7a2', 'requestId=7827caa1-30c7-40cf-8c2c-d4b337ea9152', 'xojE-161-pTv', 'ojE-161-pTvx']) t.notMatch(text, WHOLE_CODE, text)
})
