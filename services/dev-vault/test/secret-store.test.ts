import t from 'tap'
import { SecretStore } from '../src/secret-store.js'

t.test('names are case-insensitive and keep their first spelling', async (t) => {
  const store = new SecretStore()
  store.set('Api-Key', { value: 'one' })
  const second = store.set('api-key', { value: 'two' })
  t.equal(second.name, 'Api-Key')
  t.equal(store.get('API-KEY')?.value, 'two')
  t.equal(store.versions('api-key')?.length, 2)
  t.equal(store.list().length, 1)
})

t.test('versions are 32 hex characters and found in any case', async (t) => {
  const store = new SecretStore()
  const { version } = store.set('x', { value: 'v' })
  t.match(version, /^[0-9a-f]{32}$/)
  t.equal(store.get('x', version.toUpperCase())?.value, 'v')
  t.equal(store.get('x', 'f'.repeat(32)), undefined)
  t.equal(store.get('y'), undefined)
  t.equal(store.versions('y'), undefined)
})

t.test('attributes default to enabled, in unix seconds', async (t) => {
  const store = new SecretStore()
  const s = store.set('x', { value: 'v', attributes: { exp: 2000000000 } }, 1_700_000_000_999)
  t.same(s.attributes, { enabled: true, exp: 2000000000, created: 1_700_000_000, updated: 1_700_000_000, recoveryLevel: 'Purgeable' })
})

t.test('delete removes every version', async (t) => {
  const store = new SecretStore()
  store.set('x', { value: '1' })
  store.set('x', { value: '2' })
  t.equal(store.delete('x')?.value, '2')
  t.equal(store.get('x'), undefined)
  t.equal(store.delete('x'), undefined)
})

t.test('set refuses a name Key Vault would refuse', async (t) => {
  t.throws(() => new SecretStore().set('no_underscores', { value: 'v' }), RangeError)
})
