/** dev-vault's config. */
import t from 'tap'
import { loadConfig as loadDevVaultConfig } from '../src/config.js'

t.test('dev-vault seeds the key', async (t) => {
  t.same(loadDevVaultConfig({ THIRD_PARTY_API_KEY: 'k' }).seed, { 'third-party-api-key': 'k' })
  t.same(loadDevVaultConfig({}).seed, {})
  t.same(loadDevVaultConfig({ DEV_VAULT_HOSTNAMES: 'dev-vault, localhost' }).hostnames, ['dev-vault', 'localhost'])
})
