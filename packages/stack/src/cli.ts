/**
 * `npm start`: the whole system on this machine, its output in one terminal,
 * stopped with Ctrl-C. Exits 0 when asked to stop, 1 when a part could not
 * start or crashed (everything else is stopped first).
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import { dirname, relative } from 'node:path'
import { ConfigError } from '@codegate/shared/errors'
import { loadLauncherConfig, type LauncherConfig } from './cli-config.js'
import { repositoryRoot, ServiceNotBuiltError, startLocalSystem, type LocalSystem } from './local-system.js'
import { createLogPrinter } from './log-printer.js'
import { describeExit, ProcessStartError } from './managed-process.js'
import { nodeSupportWarning } from './node-support.js'
import { spanLine, spansFile, startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js'
import { PortInUseError } from './ports.js'

// A closed terminal must not turn a graceful stop into a crash on the next write.
process.stdout.on('error', () => {})
const printer = createLogPrinter({ names: ['azurite', 'vault', 'number-api', 'api', 'worker'] })
const root = repositoryRoot()
const shown = (path: string): string => relative(process.cwd(), path) || '.'

let config: LauncherConfig
try {
  config = loadLauncherConfig(process.env, root)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  printer.say(err.message)
  process.exit(1)
}

const nodeWarning = nodeSupportWarning(process.version)
if (nodeWarning !== undefined) printer.say(`warning: ${nodeWarning}`)

const startup = new AbortController()
let system: LocalSystem | undefined
let shuttingDown = false
let exitCode = 0
/** TRACE=1: the local OTLP receiver and the file its spans are appended to. */
let tracing: { receiver: OtlpReceiver, file: string, out: WriteStream } | undefined

/** After the services: their last spans are sent as they stop. */
async function stopTracing (): Promise<void> {
  await tracing?.receiver.close()
  await new Promise<void>((resolve) => { if (tracing === undefined) resolve(); else tracing.out.end(resolve) })
}

async function finish (): Promise<never> {
  try {
    await system?.stop()
    await stopTracing()
    printer.say(exitCode === 0 ? 'stopped' : 'stopped after a failure')
  } catch (err) {
    // The exit hook still SIGKILLs whatever is left.
    printer.say(`stopping failed: ${err instanceof Error ? err.message : String(err)}`)
    exitCode = 1
  }
  process.exit(exitCode)
}

/** Starts the shutdown once; during startup, startLocalSystem's own cleanup finishes it. */
function shutdown (code: number, message: string): void {
  if (shuttingDown) return
  shuttingDown = true
  exitCode = code
  printer.say(message)
  startup.abort(new Error(message))
  if (system !== undefined) void finish()
}

let firstSignalAt = 0
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (!shuttingDown) {
      firstSignalAt = Date.now()
      shutdown(0, `${signal}: stopping everything (again to force)`)
      return
    }
    // The same Ctrl-C can arrive twice (from the terminal and forwarded by npm): only a later one forces.
    if (Date.now() - firstSignalAt < 1000) return
    // A second Ctrl-C: do not wait for graceful shutdowns. The exit hook SIGKILLs every child.
    printer.say(`${signal} again: killing everything`)
    process.exit(exitCode === 0 ? 130 : exitCode)
  })
}

// `npm start` runs us under sh, which does not pass on the SIGTERM npm forwards
// to it: when the parent goes away, stop rather than run on as an orphan.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) shutdown(0, 'the parent process exited: stopping everything')
}, 1000).unref()

if (config.trace !== undefined) {
  const file = spansFile(config.dataDir)
  try {
    mkdirSync(dirname(file), { recursive: true })
    const out = createWriteStream(file, { flags: 'a' })
    const receiver = await startOtlpReceiver(config.trace.port, (spans) => { out.write(spans.map(spanLine).join('')) })
    tracing = { receiver, file, out }
  } catch (err) {
    const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
    printer.say(inUse
      ? `could not start: port ${config.trace.port} on 127.0.0.1, wanted by the OTLP receiver (TRACE=1), is already in use; set OTLP_RECEIVER_PORT to a free port`
      : `could not start the OTLP receiver: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  }
}
// The api and worker export their spans to it, a second after they end (not the SDK's 5 s), so a trace shows at once.
const traceEnv = tracing !== undefined ? { OTEL_EXPORTER_OTLP_ENDPOINT: tracing.receiver.url, OTEL_BSP_SCHEDULE_DELAY: '1000' } : undefined

try {
  system = await startLocalSystem({
    root,
    ports: config.ports,
    dataDir: config.dataDir,
    // Settings such as CODE_TTL_SECONDS or LOG_LEVEL reach the services that read them.
    env: process.env,
    baseEnv: process.env,
    ...(traceEnv !== undefined ? { serviceEnv: { api: traceEnv, worker: traceEnv } } : {}),
    thirdPartyApiKey: config.thirdPartyApiKey,
    stopTimeoutMs: config.stopTimeoutMs,
    onLine: printer.line,
    onProgress: printer.say,
    onCrash: (name, exit) => { shutdown(1, `${name} ${describeExit(exit)}: stopping everything`) },
    signal: startup.signal
  })
} catch (err) {
  // The output of a process that failed to start has been printed already.
  const why = err instanceof ProcessStartError ? err.summary : err instanceof Error ? err.message : String(err)
  if (!shuttingDown) printer.say(`could not start: ${why}`)
  exitCode = shuttingDown ? exitCode : 1
  // A taken port or a missing build is found before anything starts: nothing to stop.
  if (!(err instanceof PortInUseError || err instanceof ServiceNotBuiltError)) printer.say(exitCode === 0 ? 'stopped' : 'stopped after a failure')
  await stopTracing()
  process.exit(exitCode)
}

if (shuttingDown) {
  await finish()
} else {
  const { urls } = system
  printer.say([
    'codegate is running',
    `  API         ${urls.api}   (GET ${urls.getCode}, POST ${urls.api}/api/v1/signin)`,
    `  API docs    ${urls.docs}`,
    `  number-api  ${urls.thirdParty}   (its key is the dev-vault secret third-party-api-key)`,
    `  dev-vault   ${urls.vault}   (certificate ${shown(system.caFile)})`,
    `  Azurite     queue ${urls.queue}, table ${urls.table}   (data in ${shown(system.dataDir)}, kept between runs)`,
    ...(tracing !== undefined
      ? [`  tracing     OTLP receiver ${tracing.receiver.url}, spans kept in ${shown(tracing.file)}; npm run trace [-- <code id>] prints them`]
      : []),
    ...(process.env.AUTH_MODE === 'none'
      ? ['  AUTH_MODE=none: getcode and sign-in are open to anyone', `  try: curl -s ${urls.getCode}`]
      : [
          `  token issuer ${system.auth.issuer}   (audience ${system.auth.audience})`,
          '  try: TOKEN=$(npm run -s token -- --role Codes.Issue)',
          `       curl -s -H "authorization: Bearer $TOKEN" ${urls.getCode}`
        ]),
    'Ctrl-C stops everything.'
  ].join('\n'))
}
