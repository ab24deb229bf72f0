/** What the processes' configs share: the helper that validates an environment, and the storage settings. */
import t from 'tap'
import { ConfigError } from '../src/errors.js'
import { deriveTableUrl, fragments, observabilityConfig, readEnv, storageConfig, type ConfigSchema } from '../src/config.js'

/** The ConfigError `fn` throws. */
const configError = (fn: () => unknown): ConfigError => { try { fn() } catch (err) { if (err instanceof ConfigError) return err; throw err } throw new Error('expected a ConfigError') }

const schema: ConfigSchema = {
  properties: {
    LOG_LEVEL: fragments.log.LOG_LEVEL!,
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000, description: 'a port' },
    NAME: { type: 'string', minLength: 1, description: 'a name' }
  },
  required: ['NAME']
}

t.test('readEnv names every missing and every malformed variable at once', async (t) => {
  const err = configError(() => readEnv(schema, { PORT: 'eighty', LOG_LEVEL: 'loud' }))
  t.same(err.variables.sort(), ['LOG_LEVEL', 'NAME', 'PORT'])
  t.match(err.message, /NAME is required/)
  t.equal(err.code, 'CONFIG_INVALID')
})

t.test('readEnv types values, fills defaults, treats an empty variable as unset, and reads only its schema', async (t) => {
  t.same(readEnv(schema, { NAME: 'n', PORT: '3100', LOG_LEVEL: '', OTHER: 'x' }), { NAME: 'n', PORT: 3100, LOG_LEVEL: 'info' })
})

t.test('storage needs a queue URL or a connection string, and a table URL it can derive', async (t) => {
  const load = (env: Record<string, string>): unknown => storageConfig(readEnv({ properties: fragments.storage, required: [] }, env))
  t.match(configError(() => load({})).message, /STORAGE_QUEUE_URL is required/)
  t.same(configError(() => load({ STORAGE_QUEUE_URL: 'http://127.0.0.1:10001/devstoreaccount1/q' })).variables, ['STORAGE_TABLE_URL'])
  t.equal(deriveTableUrl('https://acct.queue.core.windows.net/code-requests'), 'https://acct.table.core.windows.net')
  t.equal(deriveTableUrl('http://127.0.0.1:10001/devstoreaccount1/q'), undefined)
})

t.test('the standard OTEL_METRIC_EXPORT_INTERVAL and OTEL_METRIC_EXPORT_TIMEOUT are read, with the SDK\'s defaults, and a bad one is named', async (t) => {
  const schema = { properties: fragments.observability, required: [] }
  t.match(observabilityConfig(readEnv(schema, {})), { metricExportIntervalMs: 60_000, metricExportTimeoutMs: 30_000 })
  t.match(observabilityConfig(readEnv(schema, { OTEL_METRIC_EXPORT_INTERVAL: '5000', OTEL_METRIC_EXPORT_TIMEOUT: '2000' })), { metricExportIntervalMs: 5000, metricExportTimeoutMs: 2000 })
  t.same(configError(() => readEnv(schema, { OTEL_METRIC_EXPORT_INTERVAL: '5s', OTEL_METRIC_EXPORT_TIMEOUT: '0' })).variables.sort(), ['OTEL_METRIC_EXPORT_INTERVAL', 'OTEL_METRIC_EXPORT_TIMEOUT'])
})
