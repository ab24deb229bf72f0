/** The api's config: what it refuses at start, naming the variable, and the typed values it gives. */
import t from 'tap'
import { ConfigError } from '@codegate/shared/errors'
import { loadConfig as loadApiConfig } from '../src/config.js'

const local = {
  KEY_VAULT_URL: 'https://127.0.0.1:8443',
  THIRD_PARTY_API_ENDPOINT: 'http://127.0.0.1:7071/api/RandomNumber',
  STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  AUTH_ISSUER: 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0',
  AUTH_AUDIENCE: '11111111-2222-3333-4444-555555555555'
}

/** The ConfigError `fn` throws. */
const configError = (fn: () => unknown): ConfigError => { try { fn() } catch (err) { if (err instanceof ConfigError) return err; throw err } throw new Error('expected a ConfigError') }

t.test('the api names every missing variable', async (t) => {
  const err = configError(() => loadApiConfig({}))
  t.same(err.variables.sort(), ['KEY_VAULT_URL', 'THIRD_PARTY_API_ENDPOINT'])
  t.match(err.message, /KEY_VAULT_URL is required/)
  t.equal(err.code, 'CONFIG_INVALID')
})

t.test('storage needs a queue URL or a connection string', async (t) => {
  const { STORAGE_CONNECTION_STRING: _, ...noStorage } = local
  t.match(configError(() => loadApiConfig(noStorage)).message, /STORAGE_QUEUE_URL is required/)
})

t.test('malformed values are refused with the variable named', async (t) => {
  t.same(configError(() => loadApiConfig({ ...local, PORT: 'eighty' })).variables, ['PORT'])
  t.same(configError(() => loadApiConfig({ ...local, KEY_VAULT_URL: 'vault' })).variables, ['KEY_VAULT_URL'])
})

t.test('caller auth is on by default and needs an issuer and an audience, named when missing', async (t) => {
  const { AUTH_ISSUER: _i, AUTH_AUDIENCE: _a, ...noAuth } = local
  const err = configError(() => loadApiConfig(noAuth))
  t.same(err.variables, ['AUTH_ISSUER', 'AUTH_AUDIENCE'])
  t.match(err.message, /AUTH_ISSUER is required with AUTH_MODE=entra .*set AUTH_MODE=none/)
  t.same(configError(() => loadApiConfig({ ...local, AUTH_AUDIENCE: ' , ' })).variables, ['AUTH_AUDIENCE'])
  t.same(configError(() => loadApiConfig({ ...local, AUTH_ISSUER: 'http://login.example/v2.0' })).variables, ['AUTH_ISSUER'], 'https only')
  t.same(configError(() => loadApiConfig({ ...local, AUTH_MODE: 'off' })).variables, ['AUTH_MODE'])
  t.same(configError(() => loadApiConfig({ ...local, AUTH_ISSUE_ROLE: 'has space' })).variables, ['AUTH_ISSUE_ROLE'])
  t.same(loadApiConfig({ ...local, AUTH_AUDIENCE: 'api://codegate, 1111' }).callerAuth, {
    mode: 'entra',
    issuer: local.AUTH_ISSUER,
    audiences: ['api://codegate', '1111'],
    issueRole: 'Codes.Issue',
    verifyRole: 'Codes.Verify',
    clockSkewSeconds: 60
  })
  t.same(loadApiConfig({ ...noAuth, AUTH_MODE: 'none' }).callerAuth, { mode: 'none' }, 'AUTH_MODE=none needs neither')
})

t.test('local defaults are sane and values are typed', async (t) => {
  const config = loadApiConfig({ ...local, PORT: '3100', CODE_TTL_SECONDS: '20', TRUST_PROXY: '10.0.0.0/8, uniquelocal', LOG_LEVEL: '' })
  t.equal(config.port, 3100)
  t.equal(config.codeTtlSeconds, 20)
  t.same(config.trustProxy, ['10.0.0.0/8', 'uniquelocal'])
  t.same(loadApiConfig(local).trustProxy, [], 'no proxy is trusted by default')
  t.equal(config.logLevel, 'info', 'an empty variable counts as unset')
  t.equal(config.host, '127.0.0.1', 'listens on loopback unless told otherwise')
  t.equal(config.secretName, 'third-party-api-key')
  t.equal(config.messageEncoding, 'base64')
  t.same(config.auth, { kind: 'connection-string', connectionString: 'UseDevelopmentStorage=true', queueName: 'code-requests' })
  t.equal(config.credential, 'default')
})

t.test('load shedding: defaults, typed values, and a bad limit named', async (t) => {
  t.same(loadApiConfig(local).overload, {
    maxEventLoopDelayMs: 1000,
    maxHeapUsedPercent: 90,
    maxEventLoopUtilization: 0,
    sampleIntervalMs: 500,
    retryAfterSeconds: 2,
    maxInFlight: 64,
    maxWaiting: 64,
    maxWaitMs: 250
  })
  const set = loadApiConfig({ ...local, PRESSURE_MAX_EVENT_LOOP_UTILIZATION: '0.95', PRESSURE_MAX_HEAP_USED_PERCENT: '0', OUTGOING_MAX_WAITING: '0' }).overload
  t.equal(set.maxEventLoopUtilization, 0.95)
  t.equal(set.maxHeapUsedPercent, 0, '0 turns the check off')
  t.equal(set.maxWaiting, 0, 'no waiting: refused as soon as the bound is full')
  t.same(configError(() => loadApiConfig({ ...local, PRESSURE_MAX_EVENT_LOOP_UTILIZATION: '1.5' })).variables, ['PRESSURE_MAX_EVENT_LOOP_UTILIZATION'])
  t.same(configError(() => loadApiConfig({ ...local, OUTGOING_MAX_IN_FLIGHT: '0' })).variables, ['OUTGOING_MAX_IN_FLIGHT'])
  t.same(configError(() => loadApiConfig({ ...local, OVERLOAD_RETRY_AFTER_SECONDS: 'soon' })).variables, ['OVERLOAD_RETRY_AFTER_SECONDS'])
})
