/**
 * The worker process: config from the environment (a bad variable → a line
 * naming it, exit 1), probes, and signals. SIGINT or SIGTERM stops polling
 * and lets messages in flight finish (config.shutdownTimeoutMs), then exits
 * 0; a second signal exits at once. Whatever did not finish reappears in the
 * queue after its visibility timeout.
 */
import { constants } from 'node:os'
import { ConfigError, loadWorkerConfig, loggerOptions, tracingEnabled, type WorkerConfig } from '@codegate/shared'
import pino from 'pino'
import { startHealthServer } from './health.js'
import { workerMetrics } from './metrics.js'
import { Worker } from './worker.js'

async function main (): Promise<void> {
  let config: WorkerConfig
  try {
    config = loadWorkerConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    // The message names each bad variable; a stack trace would only bury it.
    pino(loggerOptions('worker', 'info')).fatal({ errorCode: err.code, variables: err.variables }, err.message)
    process.exitCode = 1
    return
  }
  const log = pino(loggerOptions('worker', config.logLevel))
  // The SDK is loaded only when tracing is on: dozens of modules a worker without it need not wait for at start.
  const telemetry = tracingEnabled(config)
    ? await (await import('@codegate/shared/telemetry')).startTelemetry({
      serviceName: 'codegate-worker',
      tracesSampleRatio: config.tracesSampleRatio ?? 1,
      ...(config.otlpEndpoint !== undefined ? { otlpEndpoint: config.otlpEndpoint } : {}),
      ...(config.azureMonitorConnectionString !== undefined ? { azureMonitorConnectionString: config.azureMonitorConnectionString } : {})
    })
    : undefined
  const worker = new Worker(config, { logger: log })
  const metrics = config.metricsEnabled ? { metrics: workerMetrics(worker).registry } : {}
  const health = await startHealthServer({ host: config.healthHost, port: config.healthPort, notReady: () => worker.notReady(), notLive: () => worker.notLive(), log, ...metrics })

  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'worker.killed')
      process.exit(128 + (constants.signals[signal] ?? 0))
    }
    stopping = true
    log.info({ signal }, 'signal.received')
    worker.close()
      .then(async () => { await health.close() })
      .then(async () => { await telemetry?.shutdown() })
      .then(() => process.exit(0), (err: unknown) => {
        log.error({ err }, 'worker.close.failed')
        process.exit(1)
      })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  await worker.start()
}

main().catch((err: unknown) => {
  pino(loggerOptions('worker', 'info')).fatal({ err }, 'worker.failed')
  process.exit(1)
})
