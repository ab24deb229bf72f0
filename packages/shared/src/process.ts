/**
 * What every codegate process does around its service: load config or exit
 * naming the bad variable, start, close gracefully on SIGINT or SIGTERM, and
 * log a failure to start as fatal. Each entry point (`main.ts`) is its config
 * loader, its start, and its ready line; nothing else.
 */
import closeWithGrace from 'close-with-grace'
import type { BaseLogger } from 'pino'
import { ConfigError } from './errors.js'

/** The logger calls the kit makes. */
export type ProcessLog = Pick<BaseLogger, 'info' | 'error' | 'fatal'>

/** How long a graceful close may take before close-with-grace ends the process. */
export const CLOSE_DELAY_MS = 10_000

/**
 * Loads config or ends the process with exit code 1 and one line on stderr
 * naming each bad variable: a stack trace would only bury it. With `log`, the
 * same goes there as a fatal line too, for a log pipeline that reads JSON.
 */
export function configOrExit<T> (name: string, load: () => T, log?: ProcessLog): T {
  try {
    return load()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${name}: ${err.message}\n`)
    log?.fatal({ errorCode: err.code, variables: err.variables }, err.message)
    process.exit(1)
  }
}

/** What the kit runs: a service's start and close, and where it logs. */
export interface ServiceLifetime {
  /** Where the kit says it is closing, and why start failed. */
  log: ProcessLog
  /** Builds what is left to build and listens; logs the service's ready line. */
  start: () => Promise<void>
  /** Releases what start opened; may be called before start has finished. */
  close: () => Promise<void>
  /** Longest graceful close before the process ends anyway; null: the service bounds its own. */
  closeDelayMs?: number | null
  /** A second signal while closing: the default logs and exits 1. */
  onSecondSignal?: (signal: NodeJS.Signals) => void
}

/**
 * Runs a service for the life of the process: `close` runs once on SIGINT,
 * SIGTERM or an uncaught error (close-with-grace, which then exits 0, or 1
 * after an error or when `closeDelayMs` passes); the handlers are in place
 * before `start`, so a signal during start closes too. A failure to start is
 * logged as fatal and ends the process with exit 1.
 */
export async function runService (name: string, service: ServiceLifetime): Promise<void> {
  const { log } = service
  const delay = service.closeDelayMs === undefined ? CLOSE_DELAY_MS : service.closeDelayMs
  closeWithGrace({ delay, logger: log, ...(service.onSecondSignal !== undefined ? { onSecondSignal: service.onSecondSignal } : {}) }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'closing after an unexpected error')
    else log.info({ signal }, 'closing')
    await service.close()
  })
  try {
    await service.start()
  } catch (err) {
    log.fatal({ err }, `${name} could not start`)
    process.exit(1)
  }
}
