/** Process entry of the api: config from the environment, listen, close on SIGINT/SIGTERM (the shared process kit). */
import { tracingEnabled } from '@codegate/shared/config'
import { configOrExit, runService } from '@codegate/shared/process'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'

const config = configOrExit('api', () => loadConfig(process.env))

// Before the app: its instrumentations need the tracer provider. The SDK is
// loaded only when tracing is on, so a process without it does not pay its start.
let telemetry: { shutdown: () => Promise<void> } | undefined
if (tracingEnabled(config)) {
  telemetry = await (await import('@codegate/shared/telemetry')).startTelemetry({
    serviceName: 'codegate-api',
    tracesSampleRatio: config.tracesSampleRatio ?? 1,
    ...(config.metricExportIntervalMs !== undefined ? { metricIntervalMs: config.metricExportIntervalMs } : {}),
    ...(config.metricExportTimeoutMs !== undefined ? { metricTimeoutMs: config.metricExportTimeoutMs } : {}),
    ...(config.otlpEndpoint !== undefined ? { otlpEndpoint: config.otlpEndpoint } : {}),
    ...(config.azureMonitorConnectionString !== undefined ? { azureMonitorConnectionString: config.azureMonitorConnectionString } : {})
  })
  ;(await import('./tracing.js')).instrumentHttpClients()
}

const app = buildApp(config, { tracing: telemetry !== undefined })
app.addHook('onClose', async () => { await telemetry?.shutdown() })

await runService('api', {
  log: app.log,
  start: async () => {
    const url = await app.listen({ host: config.host, port: config.port })
    app.log.info({ url, docs: `${url}/docs`, keyLoaded: app.keyLoader.loaded }, 'api ready')
  },
  close: async () => { await app.close() }
})
