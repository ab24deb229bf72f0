/**
 * Azurite, the Azure Storage emulator from npm, as child processes: one for
 * queues and one for tables (one core each; docs/architecture.md). Data is kept on
 * disk in `location`: the in-memory mode stalls for seconds under deletes.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { killOnExit, withNodeOptionsAsGiven } from './managed-process.js'
import { freePort } from './ports.js'

const require = createRequire(import.meta.url)
const azuriteDir = dirname(require.resolve('azurite/package.json'))

/** Azurite's well-known development account (public, documented by Microsoft). */
export const DEV_ACCOUNT = 'devstoreaccount1'
export const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

export interface AzuriteOptions {
  /** Data folder; a fresh temporary one (removed on stop) when omitted. */
  location?: string
  queuePort?: number
  tablePort?: number
  host?: string
  /** Called with each line Azurite prints. */
  onLine?: (service: 'queue' | 'table', line: string) => void
  /** Wait this long for each service to listen. */
  startTimeoutMs?: number
  /** More flags for both services, e.g. `--oauth basic --cert … --key …` to test Entra ID auth. */
  args?: string[]
  /** Called when a service that was listening exits without stop/pause/restart asking it to (a crash). */
  onUnexpectedExit?: (service: 'queue' | 'table', exit: { code: number | null, signal: NodeJS.Signals | null }) => void
  /** NODE_OPTIONS the services run with, exactly (a launcher passes its own); default: none. */
  nodeOptions?: string
}

export interface Azurite {
  location: string
  queuePort: number
  tablePort: number
  queueEndpoint: string
  tableEndpoint: string
  connectionString: string
  /** Process ids of the queue and table services while they run (to check that none is left behind). */
  readonly pids: number[]
  /** Stops both services; data stays in `location` unless it was temporary. */
  stop: () => Promise<void>
  /** Stops and starts again on the same ports and data (a storage outage). */
  restart: (downMs?: number) => Promise<void>
  /** Stops without removing data, for outage tests; `start` brings it back. */
  pause: () => Promise<void>
  start: () => Promise<void>
}

export function connectionStringFor (host: string, queuePort: number, tablePort: number): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_ACCOUNT_KEY}`,
    `QueueEndpoint=http://${host}:${queuePort}/${DEV_ACCOUNT}`,
    `TableEndpoint=http://${host}:${tablePort}/${DEV_ACCOUNT}`
  ].join(';') + ';'
}

/** Children we asked to stop: their exit is not a crash. */
const stopping = new WeakSet<ChildProcess>()

async function startService (service: 'queue' | 'table', port: number, options: Required<Pick<AzuriteOptions, 'host' | 'startTimeoutMs'>> & AzuriteOptions & { location: string }): Promise<ChildProcess> {
  const args = [
    join(azuriteDir, 'dist', 'src', service, 'main.js'),
    `--${service}Host`, options.host,
    `--${service}Port`, String(port),
    '--location', options.location,
    '--silent', '--skipApiVersionCheck', '--disableTelemetry', '--loose',
    ...(options.args ?? [])
  ]
  // detached: a terminal's Ctrl-C reaches the launcher only, which stops Azurite last.
  const node = withNodeOptionsAsGiven(args, options.nodeOptions)
  const child = spawn(node.command, node.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  killOnExit(child)
  return await new Promise((resolve, reject) => {
    let output = ''
    let listening = false
    const timer = setTimeout(() => { fail(new Error(`Azurite ${service} did not start within ${options.startTimeoutMs} ms: ${output}`)) }, options.startTimeoutMs)
    const fail = (err: Error): void => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue
        output += line + '\n'
        options.onLine?.(service, line)
        if (!listening && /successfully (listens|started)/.test(line)) {
          listening = true
          clearTimeout(timer)
          resolve(child)
        }
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code, signal) => {
      if (!listening) {
        const message = `Azurite ${service} exited with code ${String(code)} before listening: ${output}`
        fail(/EADDRINUSE/.test(output) ? new PortTakenError(message) : new Error(message))
      }
      else if (!stopping.has(child)) options.onUnexpectedExit?.(service, { code, signal })
    })
  })
}

/** Azurite could not bind its port: someone else holds it. */
class PortTakenError extends Error {}

/**
 * Starts a service on a port it had before (a restart): another process may
 * hold it for a moment (a client's ephemeral port, a test's probe), so
 * EADDRINUSE is tried again until startTimeoutMs has passed.
 */
async function startOnPort (service: 'queue' | 'table', port: number, options: Parameters<typeof startService>[2]): Promise<ChildProcess> {
  const deadline = Date.now() + options.startTimeoutMs
  for (;;) {
    try {
      return await startService(service, port, options)
    } catch (err) {
      if (!(err instanceof PortTakenError) || Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}

async function stopChild (child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  stopping.add(child)
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    // SIGINT, not SIGTERM: only on SIGINT does Azurite's table service save its
    // database before exiting; otherwise the last few seconds of writes are lost.
    child.kill('SIGINT')
  })
}

export async function startAzurite (options: AzuriteOptions = {}): Promise<Azurite> {
  const host = options.host ?? '127.0.0.1'
  const temporary = options.location === undefined
  const location = options.location ?? await mkdtemp(join(tmpdir(), 'codegate-azurite-'))
  const startTimeoutMs = options.startTimeoutMs ?? 30_000
  const all = { ...options, host, location, startTimeoutMs }
  let queuePort = options.queuePort ?? 0
  let tablePort = options.tablePort ?? 0
  let queue: ChildProcess | undefined
  let table: ChildProcess | undefined

  // A port picked free can be taken before Azurite binds it: try a few.
  for (let attempt = 0; ; attempt++) {
    const q = options.queuePort ?? await freePort()
    const tb = options.tablePort ?? await freePort()
    try {
      queue = await startService('queue', q, all)
      table = await startService('table', tb, all)
      queuePort = q
      tablePort = tb
      break
    } catch (err) {
      await stopChild(queue)
      if (attempt >= 3 || (options.queuePort !== undefined && options.tablePort !== undefined)) {
        if (temporary) await rm(location, { recursive: true, force: true })
        throw err
      }
    }
  }

  const azurite: Azurite = {
    location,
    queuePort,
    tablePort,
    queueEndpoint: `http://${host}:${queuePort}/${DEV_ACCOUNT}`,
    tableEndpoint: `http://${host}:${tablePort}/${DEV_ACCOUNT}`,
    connectionString: connectionStringFor(host, queuePort, tablePort),
    get pids () {
      const running = [queue, table].filter((c) => c !== undefined && c.exitCode === null && c.signalCode === null)
      return running.flatMap((c) => c?.pid !== undefined ? [c.pid] : [])
    },
    async pause () {
      await Promise.all([stopChild(queue), stopChild(table)])
    },
    async start () {
      queue = await startOnPort('queue', queuePort, all)
      table = await startOnPort('table', tablePort, all)
    },
    async restart (downMs = 0) {
      await azurite.pause()
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs))
      await azurite.start()
    },
    async stop () {
      await azurite.pause()
      if (temporary) await rm(location, { recursive: true, force: true })
    }
  }
  return azurite
}
