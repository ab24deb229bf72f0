/** number-api's config. */
import t from 'tap'
import { ConfigError } from '@codegate/shared/errors'
import { loadConfig as loadNumberApiConfig } from '../src/config.js'

/** The ConfigError `fn` throws. */
const configError = (fn: () => unknown): ConfigError => { try { fn() } catch (err) { if (err instanceof ConfigError) return err; throw err } throw new Error('expected a ConfigError') }

t.test('malformed values are refused with the variable named', async (t) => {
  t.same(configError(() => loadNumberApiConfig({ THIRD_PARTY_API_KEYS: ' , ' })).variables, ['THIRD_PARTY_API_KEYS'])
})

t.test('number-api takes several keys for rotation', async (t) => {
  t.same(loadNumberApiConfig({ THIRD_PARTY_API_KEYS: 'old, new' }).keys, ['old', 'new'])
})
