import t from 'tap'
import { ConfigError } from '@codegate/shared/errors'
import { loadLauncherConfig } from '../src/cli-config.js'
import { DEFAULT_PORTS, DEV_THIRD_PARTY_API_KEY } from '../src/local-system.js'

t.test('with nothing set, npm start uses the design\'s ports, .data and the local dev key', async (t) => {
  const config = loadLauncherConfig({}, '/repo')
  t.same(config.ports, { api: 3000, worker: 3001, numberApi: 7071, vault: 8443, queue: 10001, table: 10002 })
  t.same(config.ports, DEFAULT_PORTS)
  t.equal(config.dataDir, '/repo/.data')
  t.equal(config.thirdPartyApiKey, DEV_THIRD_PARTY_API_KEY)
})

t.test('each port, the data folder and the key can be changed from the environment', async (t) => {
  const config = loadLauncherConfig({
    PORT: '4000',
    WORKER_HEALTH_PORT: '4001',
    NUMBER_API_PORT: '4071',
    DEV_VAULT_PORT: '4443',
    AZURITE_QUEUE_PORT: '11001',
    AZURITE_TABLE_PORT: '11002',
    CODEGATE_DATA_DIR: '/tmp/elsewhere',
    THIRD_PARTY_API_KEY: 'my-key'
  }, '/repo')
  t.same(config.ports, { api: 4000, worker: 4001, numberApi: 4071, vault: 4443, queue: 11001, table: 11002 })
  t.equal(config.dataDir, '/tmp/elsewhere')
  t.equal(config.thirdPartyApiKey, 'my-key')
})

t.test('a bad port is refused, naming the variable', async (t) => {
  t.throws(() => loadLauncherConfig({ NUMBER_API_PORT: 'seventy' }, '/repo'), ConfigError)
  t.throws(() => loadLauncherConfig({ NUMBER_API_PORT: 'seventy' }, '/repo'), { message: /NUMBER_API_PORT/ })
})

t.test('TRACE=1 (or true) turns the local OTLP receiver on, on OTLP_RECEIVER_PORT (4318); anything else is refused', async (t) => {
  t.equal(loadLauncherConfig({}, '/repo').trace, undefined, 'off by default')
  t.same(loadLauncherConfig({ TRACE: '1' }, '/repo').trace, { port: 4318 })
  t.same(loadLauncherConfig({ TRACE: 'true', OTLP_RECEIVER_PORT: '14318' }, '/repo').trace, { port: 14318 })
  t.equal(loadLauncherConfig({ TRACE: '0' }, '/repo').trace, undefined)
  t.throws(() => loadLauncherConfig({ TRACE: 'yes' }, '/repo'), { message: /TRACE/ })
})
