/** The garbage the soak injects really is garbage: the worker's decoder refuses every kind, and none holds a code. */
import t from 'tap'
import { CODE_PATTERN } from '@codegate/shared/code'
import { MessageFormatError } from '@codegate/shared/errors'
import { decodeMessage } from '@codegate/shared/message'
import { GARBAGE, garbageBurst } from '../src/garbage.js'
import { Random } from '@codegate/stack/random'

const wholeCode = new RegExp(CODE_PATTERN.slice(1, -1))

for (const [kind, make] of Object.entries(GARBAGE)) {
  t.test(`${kind}: unreadable, so poisoned at once`, async (t) => {
    const text = make(7, Date.now())
    t.throws(() => decodeMessage(text, 600), MessageFormatError)
    t.notMatch(text, wholeCode, 'holds no whole code')
    t.notMatch(Buffer.from(text, 'base64').toString('utf8'), wholeCode, 'not even base64-encoded')
  })
}

t.test('a burst covers every kind before repeating one', async (t) => {
  const burst = garbageBurst(Object.keys(GARBAGE).length + 5, new Random(3))
  t.same(new Set(burst.slice(0, Object.keys(GARBAGE).length).map((g) => g.kind)), new Set(Object.keys(GARBAGE)))
  t.equal(new Set(burst.map((g) => g.text)).size, burst.length, 'every message is distinct')
})
