/**
 * The worker process, through the shared process kit: config from the
 * environment (a bad variable → a line naming it, exit 1), probes, and
 * signals. SIGINT or SIGTERM stops polling and lets messages in flight finish
 * (config.shutdownTimeoutMs, the worker's own bound), then exits 0; a second
 * signal exits at once with 128 + its number. Whatever did not finish
 * reappears in the queue after its visibility timeout.
 */
import { constants } from 'node:os'
import { createLogger, tracingEnabled } from '@codegate/shared'
import { configOrExit, runService } from '@codegate/shared/process'
import { loadConfig } from './config.js'
import { forwardEvents, type EventForwarder } from './event-channel.js'
import { startHealthServer, type HealthServer } from './health.js'
import { workerMetrics } from './metrics.js'
import { Worker } from './worker.js'

const config = configOrExit('worker', () => loadConfig(process.env), createLogger('worker', 'info'))
const log = createLogger('worker', config.logLevel)
// The SDK is loaded only when tracing is on: dozens of modules a worker without it need not wait for at start.
const telemetry = tracingEnabled(config)
  ? await (await import('@codegate/shared/telemetry')).startTelemetry({
    serviceName: 'codegate-worker',
    tracesSampleRatio: config.tracesSampleRatio ?? 1,
    ...(config.metricExportIntervalMs !== undefined ? { metricIntervalMs: config.metricExportIntervalMs } : {}),
    ...(config.metricExportTimeoutMs !== undefined ? { metricTimeoutMs: config.metricExportTimeoutMs } : {}),
    ...(config.otlpEndpoint !== undefined ? { otlpEndpoint: config.otlpEndpoint } : {}),
    ...(config.azureMonitorConnectionString !== undefined ? { azureMonitorConnectionString: config.azureMonitorConnectionString } : {})
  })
  : undefined
const worker = new Worker(config, { logger: log })
// Started by a parent with an IPC channel (bench, soak): it hears the typed events (event-channel.ts).
const send = process.send?.bind(process)
const events: EventForwarder | undefined = send !== undefined
  ? forwardEvents(worker, {
    get connected () { return process.connected },
    send: (message, done) => { send(message, undefined, undefined, done) }
  })
  : undefined
const metrics = config.metricsEnabled ? { metrics: workerMetrics(worker).registry } : {}
let health: HealthServer | undefined

await runService('worker', {
  log,
  start: async () => {
    health = await startHealthServer({ host: config.healthHost, port: config.healthPort, notReady: () => worker.notReady(), notLive: () => worker.notLive(), log, ...metrics })
    await worker.start()
  },
  close: async () => {
    await worker.close()
    // The 'closed' event and whatever is still queued reach the parent before the process exits.
    await events?.flush()
    await health?.close()
    await telemetry?.shutdown()
  },
  closeDelayMs: null,
  onSecondSignal: (signal) => {
    log.warn({ signal }, 'worker.killed')
    process.exit(128 + (constants.signals[signal] ?? 0))
  }
})
