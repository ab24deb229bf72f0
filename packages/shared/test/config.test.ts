import t from 'tap'
import { ConfigError } from '../src/errors.js'
import { deriveTableUrl, loadApiConfig, loadDevVaultConfig, loadNumberApiConfig, loadWorkerConfig } from '../src/config.js'

const local = {
  KEY_VAULT_URL: 'https://127.0.0.1:8443',
  THIRD_PARTY_API_ENDPOINT: 'http://127.0.0.1:7071/api/RandomNumber',
  STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  AUTH_ISSUER: 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0',
  AUTH_AUDIENCE: '11111111-2222-3333-4444-555555555555'
}

function configError (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('the api names every missing variable', async (t) => {
  const err = configError(() => loadApiConfig({}))
  t.same(err.variables.sort(), ['KEY_VAULT_URL', 'THIRD_PARTY_API_ENDPOINT'])
  t.match(err.message, /KEY_VAULT_URL is required/)
  t.equal(err.code, 'CONFIG_INVALID')
})

t.test('storage needs a queue URL or a connection string', async (t) => {
  const { STORAGE_CONNECTION_STRING: _, ...noStorage } = local
  t.match(configError(() => loadApiConfig(noStorage)).message, /STORAGE_QUEUE_URL is required/)
  t.match(configError(() => loadWorkerConfig({})).message, /STORAGE_QUEUE_URL is required/)
})

t.test('malformed values are refused with the variable named', async (t) => {
  t.same(configError(() => loadApiConfig({ ...local, PORT: 'eighty' })).variables, ['PORT'])
  t.same(configError(() => loadApiConfig({ ...local, KEY_VAULT_URL: 'vault' })).variables, ['KEY_VAULT_URL'])
  t.same(configError(() => loadWorkerConfig({ ...local, WORKER_BATCH_SIZE: '64' })).variables, ['WORKER_BATCH_SIZE'])
  t.same(configError(() => loadWorkerConfig({ ...local, QUEUE_MESSAGE_ENCODING: 'xml' })).variables, ['QUEUE_MESSAGE_ENCODING'])
  t.same(configError(() => loadWorkerConfig({ ...local, STORAGE_QUEUE_NAME: 'Bad_Name' })).variables, ['STORAGE_QUEUE_NAME'])
  t.same(configError(() => loadNumberApiConfig({ THIRD_PARTY_API_KEYS: ' , ' })).variables, ['THIRD_PARTY_API_KEYS'])
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
  const worker = loadWorkerConfig(local)
  t.equal(worker.maxBackoffMs, 1000, 'an idle worker polls at least every second')
  t.equal(worker.batchSize, 32)
  t.equal(worker.maxDequeueCount, 5)
})

t.test('in Azure the table URL is derived from the queue URL', async (t) => {
  const config = loadWorkerConfig({ STORAGE_QUEUE_URL: 'https://acct.queue.core.windows.net/code-requests' })
  t.same(config.auth, { kind: 'url', queueUrl: 'https://acct.queue.core.windows.net/code-requests', tableUrl: 'https://acct.table.core.windows.net' })
  t.equal(deriveTableUrl('http://127.0.0.1:10001/devstoreaccount1/q'), undefined)
  t.same(configError(() => loadWorkerConfig({ STORAGE_QUEUE_URL: 'http://127.0.0.1:10001/devstoreaccount1/q' })).variables, ['STORAGE_TABLE_URL'])
})

t.test('number-api takes several keys for rotation; dev-vault seeds the key', async (t) => {
  t.same(loadNumberApiConfig({ THIRD_PARTY_API_KEYS: 'old, new' }).keys, ['old', 'new'])
  t.same(loadDevVaultConfig({ THIRD_PARTY_API_KEY: 'k' }).seed, { 'third-party-api-key': 'k' })
  t.same(loadDevVaultConfig({}).seed, {})
  t.same(loadDevVaultConfig({ DEV_VAULT_HOSTNAMES: 'dev-vault, localhost' }).hostnames, ['dev-vault', 'localhost'])
})

t.test('a message held by a crashed worker comes back while its code can still be activated', async (t) => {
  // A late activate is dropped (a dead code must not become valid), so the
  // processing visibility timeout has to be well inside the code's life.
  t.equal(loadWorkerConfig(local).visibilityTimeoutSeconds, 30, '30 s for the default 600 s codes')
  t.equal(loadWorkerConfig({ ...local, CODE_TTL_SECONDS: '20' }).visibilityTimeoutSeconds, 5, 'a quarter of a short TTL')
  t.equal(loadWorkerConfig({ ...local, CODE_TTL_SECONDS: '2' }).visibilityTimeoutSeconds, 1)
  const err = configError(() => loadWorkerConfig({ ...local, CODE_TTL_SECONDS: '20', WORKER_VISIBILITY_TIMEOUT_SECONDS: '30' }))
  t.same(err.variables, ['WORKER_VISIBILITY_TIMEOUT_SECONDS'])
  t.match(err.message, /CODE_TTL_SECONDS/)
  t.equal(loadWorkerConfig({ ...local, CODE_TTL_SECONDS: '20', WORKER_VISIBILITY_TIMEOUT_SECONDS: '10' }).visibilityTimeoutSeconds, 10, 'half the TTL is allowed')
})

t.test('load shedding: defaults, typed values, and a bad limit named', async (t) => {
  t.same(loadApiConfig(local).overload, {
    maxEventLoopDelayMs: 200,
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
