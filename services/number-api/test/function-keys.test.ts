import t from 'tap'
import { createKeyCheck } from '../src/function-keys.js'

t.test('accepts each configured key and nothing else', async (t) => {
  const check = createKeyCheck(['alpha', 'beta-longer-key'])
  t.ok(check('alpha'))
  t.ok(check('beta-longer-key'))
  t.notOk(check('alph'))
  t.notOk(check('alphaa'))
  t.notOk(check('ALPHA'))
  t.notOk(check(''))
  t.notOk(check(undefined))
})

t.test('refuses to build a check with no key, which would lock everyone out', async (t) => {
  t.throws(() => createKeyCheck([]), TypeError)
})
