/**
 * The system under test, as separate processes. startLocalSystem provides
 * Azurite, dev-vault and number-api; the api and the workers are then run the
 * way the containers run them (`node services/<name>/dist/main.js`, no
 * --enable-source-maps, which `npm start` adds and which costs memory), with
 * the environment startLocalSystem wired for them. Each worker's typed
 * events (activated, expired, ...) come over an IPC channel
 * (@codegate/shared/worker-events) and are counted, so a scenario can wait for
 * codes without reading storage itself or parsing log lines.
 */
import { join } from 'node:path'
import type { StorageConfig } from '@codegate/shared/config'
import { repositoryRoot, startLocalSystem, startProcess, freePort, type LocalSystem, type ManagedProcess } from '@codegate/stack'
import { decodeWorkerEvents, type WorkerEventRecord } from '@codegate/shared/worker-events'
import type { ApiCaller } from './client.js'

export interface SystemOptions {
  /** The bench CLI's process.env: what the processes inherit (PATH, HOME, ...) is picked from it. */
  baseEnv: Env
  workers: number
  ttlSeconds: number
  /** Fixed Azurite ports (to put a proxy in front of them before anything starts). */
  ports?: { queue: number, table: number }
  /** Connection string the api and workers use instead of Azurite's own (a counting proxy). */
  storageConnectionString?: string
  /** Node flags for api and workers, e.g. --cpu-prof. */
  nodeFlags?: string[]
  /** The workers' node flags, where they differ from nodeFlags (the api's and every other process's). */
  workerNodeFlags?: string[]
  logLevel?: string
  /** The api's LOG_LEVEL alone (the workers keep `logLevel`, info by default: the lines they write are part of what they cost). */
  apiLogLevel?: string
  /** More variables for the api alone (e.g. its load-shedding limits). */
  apiEnv?: Record<string, string>
  /** Also run a second api, the same but with AUTH_MODE=none, to measure what token checks cost. */
  openApi?: boolean
}

/** What the workers announced (their typed events), counted. */
export interface WorkerEvents {
  activated: number
  expired: number
  /** Activates that arrived after their code's expiry (never made valid). */
  dropped: number
  /** Tries that failed (the message comes back). */
  failed: number
  /** Messages received and not yet handled (received counts minus outcomes). */
  inFlight: number
  /** Highest inFlight seen. */
  maxInFlight: number
  /** Epoch ms of the last activated, expired or dropped (the worker's clock). */
  lastAt: number
  /** Epoch ms of the first `started` (queues and table exist; the first poll comes next). */
  startedAt: number
  /** Events a worker left out because this process read its channel too slowly; 0 or the counts are short. */
  lost: number
  /** Messages on the channel that were not valid event messages (decodeWorkerEvents' reasons). */
  rejected: string[]
}

export function noWorkerEvents (): WorkerEvents {
  return { activated: 0, expired: 0, dropped: 0, failed: 0, inFlight: 0, maxInFlight: 0, lastAt: 0, startedAt: 0, lost: 0, rejected: [] }
}

export interface BenchSystem {
  system: LocalSystem
  api: ManagedProcess
  apiUrl: string
  /** The api with the tokens its routes want (the api checks them: AUTH_MODE=entra, as `npm start`). */
  caller: ApiCaller
  /** With `openApi`: the same api with AUTH_MODE=none. */
  openApi: { process: ManagedProcess, url: string } | undefined
  workers: ManagedProcess[]
  events: WorkerEvents
  /** Storage as Azurite itself serves it (never through a proxy): for the bench's own reads and clean-ups. */
  connectionString: string
  /** Resolves once `count()` reaches `target`; rejects after `timeoutMs`. */
  waitFor: (count: () => number, target: number, timeoutMs: number) => Promise<void>
  /** Starts one more worker process (same settings). */
  addWorker: () => Promise<ManagedProcess>
  /** Starts another api process on its own port, the same but for its node flags (and `env` over its environment); stopped with the system. */
  addApi: (name: string, nodeFlags: string[], env?: Record<string, string>) => Promise<{ api: ManagedProcess, url: string }>
  /** Process ids by role, for CPU and memory readings. */
  pids: () => Record<string, number | undefined>
  stop: () => Promise<void>
}

/** Storage settings for the bench's own clients (fill, clear, read). */
export function storageConfig (connectionString: string, queueName = 'code-requests', tableName = 'codes'): StorageConfig {
  return { auth: { kind: 'connection-string', connectionString, queueName }, tableName, messageEncoding: 'base64', codeTtlSeconds: 600, storageTimeoutMs: 30_000 }
}

/**
 * Rate limits and lockouts are per client address, and all bench load comes
 * from one. TRUST_PROXY lets a scenario name other addresses in
 * X-Forwarded-For (the sign-in cost scenario, which needs fresh ones).
 */
export const UNLIMITED = {
  RATE_LIMIT_MAX: '1000000000',
  SIGNIN_MAX_FAILURES: '1000000000',
  SIGNIN_SUBJECT_MAX_FAILURES: '1000000000',
  TRUST_PROXY: '127.0.0.1'
}

const INHERITED = ['PATH', 'HOME', 'USER', 'LANG', 'TZ', 'TMPDIR']

/** An environment: the bench CLI's process.env, passed down. */
export type Env = Record<string, string | undefined>

/** What a process the bench starts inherits from `env` (the CLI's environment): enough for Node to run. */
export function inheritedEnv (env: Env): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of INHERITED) {
    const value = env[name]
    if (value !== undefined) out[name] = value
  }
  return out
}

/** Outcomes: each ends one received message's handling. */
const OUTCOMES = new Set<WorkerEventRecord['name']>(['activated', 'expired', 'requeued', 'dropped', 'poisoned', 'failed'])

/** Counts the typed events a worker sends over its IPC channel into `events`; `onEvent` after each. */
export function eventCounter (events: WorkerEvents, onEvent: (event: WorkerEventRecord) => void): (message: unknown) => void {
  return (message) => {
    const decoded = decodeWorkerEvents(message)
    if (!decoded.ok) {
      // Kept (bounded) for the report; the run goes on with what could be read.
      if (events.rejected.length < 10) events.rejected.push(decoded.reason)
      return
    }
    events.lost += decoded.message.lost
    for (const e of decoded.message.events) {
      switch (e.name) {
        case 'started':
          if (events.startedAt === 0) events.startedAt = e.at
          break
        case 'received':
          events.inFlight += e.count
          events.maxInFlight = Math.max(events.maxInFlight, events.inFlight)
          break
        case 'activated':
        case 'expired':
        case 'dropped':
          events[e.name]++
          events.lastAt = Math.max(events.lastAt, e.at)
          break
        case 'failed':
          events.failed++
          break
        default:
      }
      if (OUTCOMES.has(e.name)) events.inFlight--
      onEvent(e)
    }
  }
}

/** Starts a worker the way its container runs it, with an IPC channel for its typed events (`onMessage`, e.g. an eventCounter). */
export async function startWorkerProcess (name: string, env: Record<string, string>, nodeFlags: string[], onMessage: (message: unknown) => void, baseEnv: Env): Promise<ManagedProcess> {
  const port = await freePort()
  return await startProcess({
    name,
    command: process.execPath,
    args: [...nodeFlags, join(repositoryRoot(), 'services/worker/dist/main.js')],
    env: { ...inheritedEnv(baseEnv), WORKER_HEALTH_HOST: '127.0.0.1', WORKER_HEALTH_PORT: String(port), WORKER_SUMMARY_INTERVAL_SECONDS: '3600', ...env },
    ready: { url: `http://127.0.0.1:${port}/readyz` },
    onMessage
  })
}

export async function startSystem (options: SystemOptions): Promise<BenchSystem> {
  const events = noWorkerEvents()
  const waiters = new Set<() => void>()
  const wake = (): void => { for (const w of waiters) w() }
  const nodeFlags = options.nodeFlags ?? []
  const settings = { LOG_LEVEL: options.logLevel ?? 'info', CODE_TTL_SECONDS: String(options.ttlSeconds), ...UNLIMITED }
  const system = await startLocalSystem({
    baseEnv: options.baseEnv,
    workers: 0,
    ...(options.ports !== undefined ? { ports: options.ports } : {}),
    env: settings,
    onCrash: (name, exit) => { if (name !== 'api') process.stderr.write(`bench: ${name} crashed (${exit.signal ?? String(exit.code)})\n`) }
  })
  const workers: ManagedProcess[] = []
  let api: ManagedProcess | undefined
  let openApi: ManagedProcess | undefined
  try {
    // The launcher's api ran with --enable-source-maps; replace it with the container's command line.
    await system.api.stop()
    const storage = { STORAGE_CONNECTION_STRING: options.storageConnectionString ?? system.connectionString }
    const apiEnv = { ...inheritedEnv(options.baseEnv), ...system.api.env, ...storage, ...(options.apiLogLevel !== undefined ? { LOG_LEVEL: options.apiLogLevel } : {}), ...options.apiEnv }
    const apiEntry = join(repositoryRoot(), 'services/api/dist/main.js')
    api = await startProcess({
      name: 'api',
      command: process.execPath,
      args: [...nodeFlags, apiEntry],
      env: apiEnv,
      ready: { url: `${system.api.url}/readyz` }
    })
    const extraApis: ManagedProcess[] = []
    const addApi = async (name: string, flags: string[], env: Record<string, string> = {}): Promise<{ api: ManagedProcess, url: string }> => {
      const url = new URL(system.api.url)
      url.port = String(await freePort())
      const extra = await startProcess({ name, command: process.execPath, args: [...flags, apiEntry], env: { ...apiEnv, ...env, PORT: url.port }, ready: { url: `${url.origin}/readyz` } })
      extraApis.push(extra)
      return { api: extra, url: url.origin }
    }
    let open: BenchSystem['openApi']
    if (options.openApi === true) {
      const port = await freePort()
      openApi = await startProcess({
        name: 'api-open',
        command: process.execPath,
        args: [...nodeFlags, apiEntry],
        env: { ...apiEnv, PORT: String(port), AUTH_MODE: 'none' },
        ready: { url: `http://127.0.0.1:${port}/readyz` }
      })
      open = { process: openApi, url: `http://127.0.0.1:${port}` }
    }
    const caller: ApiCaller = { url: system.api.url, issueToken: await system.tokens.get('Codes.Issue'), verifyToken: await system.tokens.get('Codes.Verify') }
    const workerEnv = { ...settings, ...storage }
    const addWorker = async (): Promise<ManagedProcess> => {
      const worker = await startWorkerProcess(`worker-${workers.length + 1}`, workerEnv, options.workerNodeFlags ?? nodeFlags, eventCounter(events, wake), options.baseEnv)
      workers.push(worker)
      return worker
    }
    for (let i = 0; i < options.workers; i++) await addWorker()
    const running = api
    return {
      system,
      api: running,
      apiUrl: system.api.url,
      caller,
      openApi: open,
      workers,
      events,
      connectionString: system.connectionString,
      addWorker,
      addApi,
      async waitFor (count, target, timeoutMs) {
        if (count() >= target) return
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            waiters.delete(check)
            reject(new Error(`waited ${timeoutMs} ms for ${target} worker events, saw ${count()}`))
          }, timeoutMs)
          const check = (): void => {
            if (count() < target) return
            clearTimeout(timer)
            waiters.delete(check)
            resolve()
          }
          waiters.add(check)
        })
      },
      pids: () => {
        const [azuriteQueue, azuriteTable] = system.azurite.pids
        return {
          api: running.running ? running.pid : undefined,
          'api-open': openApi?.running === true ? openApi.pid : undefined,
          ...Object.fromEntries(workers.map((w, i) => [i === 0 ? 'worker' : `worker-${i + 1}`, w.running ? w.pid : undefined])),
          'azurite-queue': azuriteQueue,
          'azurite-table': azuriteTable,
          'number-api': system.numberApi.pid,
          bench: process.pid
        }
      },
      stop: async () => {
        await Promise.all([running, ...extraApis, ...(openApi !== undefined ? [openApi] : []), ...workers].map(async (p) => await p.stop()))
        await system.stop()
      }
    }
  } catch (err) {
    await Promise.all([api, openApi, ...workers].map(async (p) => await p?.stop()))
    await system.stop()
    throw err
  }
}
