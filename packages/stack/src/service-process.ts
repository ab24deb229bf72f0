/**
 * One service process of the local system (dev-vault, number-api, an api or
 * a worker): its port, URL and environment fixed once, so it can be stopped,
 * killed and started again on the same port, as the soak's faults do.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startProcess, type ExitInfo, type ManagedProcess } from './managed-process.js'
import type { Readiness } from './readiness.js'

export type ServiceKind = 'vault' | 'numberApi' | 'api' | 'worker'

/**
 * Heap limits of the api and the worker, as their containers run them
 * (Dockerfile NODE_OPTIONS; compose.test.ts checks they agree). Left alone,
 * V8 lets a ~30 MB live heap grow past 130 MB before it collects (Node 24's
 * young generation alone may take 192 MB). The api's young generation is
 * 16 MB semi-spaces (Node 20's default): with 4 MB its scavenges cost
 * getcode about a fifth of its throughput on Node 20 and 24 alike; the
 * worker, whose throughput is the storage's, keeps 4 MB (docs/benchmarks.md).
 * The api's old space is 128 MB: with tracing on (the OpenTelemetry SDK and
 * its instrumentations), Node 24 reached a 96 MB limit while the api started
 * (the npm start test, twice in two runs; 51 MB in use once it had started).
 */
export const SERVICE_NODE_FLAGS: Partial<Record<ServiceKind, readonly string[]>> = {
  api: ['--max-old-space-size=128', '--max-semi-space-size=16'],
  worker: ['--max-old-space-size=96', '--max-semi-space-size=4']
}

/** Each service's entry point, from the repository root. */
export const SERVICE_ENTRIES: Record<ServiceKind, string> = {
  vault: 'services/dev-vault/dist/main.js',
  numberApi: 'services/number-api/dist/main.js',
  api: 'services/api/dist/main.js',
  worker: 'services/worker/dist/main.js'
}

/** One service process of the system, which can be stopped, killed and started again on the same port. */
export interface Service {
  readonly name: string
  readonly kind: ServiceKind
  /** The port it listens on (the worker: its health probe). */
  readonly port: number
  /** Its base URL, e.g. http://127.0.0.1:3000 (dev-vault: https). */
  readonly url: string
  /** The environment it runs with (inherited variables left out). */
  readonly env: Readonly<Record<string, string>>
  readonly process: ManagedProcess | undefined
  readonly pid: number | undefined
  readonly running: boolean
  /** Starts it again (same port and environment) and waits until it answers. */
  start: () => Promise<void>
  /** SIGTERM, then SIGKILL after the bound. */
  stop: () => Promise<ExitInfo | undefined>
  /** stop, wait downMs, start: an outage of this part. */
  restart: (downMs?: number) => Promise<void>
  /** Sends a signal (default SIGKILL), e.g. to crash a worker; not reported as a crash. */
  kill: (signal?: NodeJS.Signals) => void
}

export interface ServiceProcessOptions {
  kind: ServiceKind
  /** e.g. api, api-2, worker-3: names its output lines and its crashes. */
  name: string
  port: number
  url: string
  /** Its own settings and wiring. */
  env: Record<string, string>
  /** What it inherits besides (PATH, HOME, ...). */
  baseEnv: Record<string, string>
  /** Repository root holding SERVICE_ENTRIES. */
  root: string
  /** When it counts as started. */
  ready: Readiness
  readyTimeoutMs: number
  stopTimeoutMs: number
  onLine: (name: string, line: string) => void
  /** Messages over an IPC channel to the process (opened only when given); see ProcessOptions.onMessage. */
  onMessage?: (name: string, message: unknown) => void
  /** It exited without being asked to. */
  onCrash: (name: string, exit: ExitInfo) => void
  /** Aborts a start while the whole system is starting; undefined afterwards. */
  startupSignal: () => AbortSignal | undefined
}

export class ServiceProcess implements Service {
  readonly name: string
  readonly kind: ServiceKind
  readonly port: number
  readonly url: string
  readonly env: Readonly<Record<string, string>>
  readonly #options: ServiceProcessOptions
  #current: ManagedProcess | undefined

  constructor (options: ServiceProcessOptions) {
    this.#options = options
    this.name = options.name
    this.kind = options.kind
    this.port = options.port
    this.url = options.url
    this.env = options.env
  }

  get process (): ManagedProcess | undefined {
    return this.#current
  }

  get pid (): number | undefined {
    return this.#current?.running === true ? this.#current.pid : undefined
  }

  get running (): boolean {
    return this.#current?.running === true
  }

  async start (): Promise<void> {
    if (this.#current?.running === true) return
    const { name, kind, root, baseEnv, ready, readyTimeoutMs, stopTimeoutMs, onLine, onMessage, onCrash } = this.#options
    const signal = this.#options.startupSignal()
    const proc = await startProcess({
      name,
      command: process.execPath,
      args: ['--enable-source-maps', ...(SERVICE_NODE_FLAGS[kind] ?? []), join(root, SERVICE_ENTRIES[kind])],
      env: { ...baseEnv, ...this.env },
      cwd: root,
      ready,
      readyTimeoutMs,
      stopTimeoutMs,
      onLine: (line) => { onLine(name, line) },
      ...(onMessage !== undefined ? { onMessage: (message: unknown) => { onMessage(name, message) } } : {}),
      ...(signal !== undefined ? { signal } : {})
    })
    this.#current = proc
    void proc.exited.then((exit) => { if (!exit.expected) onCrash(name, exit) })
  }

  async stop (): Promise<ExitInfo | undefined> {
    return await this.#current?.stop()
  }

  async restart (downMs = 0): Promise<void> {
    await this.stop()
    if (downMs > 0) await sleep(downMs)
    await this.start()
  }

  kill (signal?: NodeJS.Signals): void {
    this.#current?.kill(signal)
  }
}
