/** The worker's config: what it refuses at start, naming the variable, and the rule between its timeout and the codes' life. */
import t from 'tap'
import { deriveTableUrl } from '@codegate/shared/config'
import { ConfigError } from '@codegate/shared/errors'
import { loadConfig as loadWorkerConfig } from '../src/config.js'

// What the shared local environment holds that the worker reads (the api's variables it ignores).
const local = { KEY_VAULT_URL: 'https://127.0.0.1:8443', STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' }

/** The ConfigError `fn` throws. */
const configError = (fn: () => unknown): ConfigError => { try { fn() } catch (err) { if (err instanceof ConfigError) return err; throw err } throw new Error('expected a ConfigError') }

t.test('storage needs a queue URL or a connection string', async (t) => {
  t.match(configError(() => loadWorkerConfig({})).message, /STORAGE_QUEUE_URL is required/)
})

t.test('malformed values are refused with the variable named', async (t) => {
  t.same(configError(() => loadWorkerConfig({ ...local, WORKER_BATCH_SIZE: '64' })).variables, ['WORKER_BATCH_SIZE'])
  t.same(configError(() => loadWorkerConfig({ ...local, QUEUE_MESSAGE_ENCODING: 'xml' })).variables, ['QUEUE_MESSAGE_ENCODING'])
  t.same(configError(() => loadWorkerConfig({ ...local, STORAGE_QUEUE_NAME: 'Bad_Name' })).variables, ['STORAGE_QUEUE_NAME'])
})

t.test('local defaults are sane and values are typed', async (t) => {
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
