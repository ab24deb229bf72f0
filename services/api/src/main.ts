/** Process entry of the api: config from the environment, listen, close on SIGINT/SIGTERM. */
import closeWithGrace from 'close-with-grace'
import { loadApiConfig, tracingEnabled } from '@codegate/shared/config'
import { configOrExit } from '@codegate/shared/process'
import { buildApp } from './app.js'

const config = configOrExit('api', () => loadApiConfig())

// Before the app: its instrumentations need the tracer provider. The SDK is
// loaded only when tracing is on, so a process without it does not pay its start.
let telemetry: { shutdown: () => Promise<void> } | undefined
if (tracingEnabled(config)) {
  telemetry = await (await import('@codegate/shared/telemetry')).startTelemetry({
    serviceName: 'codegate-api',
    tracesSampleRatio: config.tracesSampleRatio ?? 1,
    ...(config.otlpEndpoint !== undefined ? { otlpEndpoint: config.otlpEndpoint } : {}),
    ...(config.azureMonitorConnectionString !== undefined ? { azureMonitorConnectionString: config.azureMonitorConnectionString } : {})
  })
  ;(await import('./tracing.js')).instrumentHttpClients()
}

const app = buildApp(config, { tracing: telemetry !== undefined })
app.addHook('onClose', async () => { await telemetry?.shutdown() })

closeWithGrace({ delay: 10_000, logger: app.log }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'closing after an unexpected error')
  else app.log.info({ signal }, 'closing')
  await app.close()
})

try {
  const url = await app.listen({ host: config.host, port: config.port })
  app.log.info({ url, docs: `${url}/docs`, keyLoaded: app.keyLoader.loaded }, 'api ready')
} catch (err) {
  app.log.fatal({ err }, 'api could not listen')
  process.exit(1)
}
