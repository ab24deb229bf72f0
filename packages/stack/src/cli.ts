/**
 * `npm start`: the whole system on this machine, its output in one terminal,
 * stopped with Ctrl-C. Exits 0 when asked to stop, 1 when a part could not
 * start or crashed (everything else is stopped first).
 */
import { relative } from 'node:path'
import { ConfigError } from '@codegate/shared/errors'
import { loadLauncherConfig, type LauncherConfig } from './cli-config.js'
import { repositoryRoot, ServiceNotBuiltError, startLocalSystem, type LocalSystem } from './local-system.js'
import { createLogPrinter } from './log-printer.js'
import { describeExit, ProcessStartError } from './managed-process.js'
import { nodeSupportWarning } from './node-support.js'
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

async function finish (): Promise<never> {
  try {
    await system?.stop()
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

try {
  system = await startLocalSystem({
    root,
    ports: config.ports,
    dataDir: config.dataDir,
    // Settings such as CODE_TTL_SECONDS or LOG_LEVEL reach the services that read them.
    env: process.env,
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
