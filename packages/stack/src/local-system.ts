/**
 * The whole system on one machine, no Docker and no Azure account: Azurite,
 * dev-vault, number-api, api and worker(s), wired together through their
 * environment and started in dependency order, each waited for until it
 * answers. Used by `npm start`, the end-to-end tests, the soak test and the
 * benchmarks, which also stop, kill and restart single parts.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DevTokenSource } from '@codegate/dev-vault/token-client'
import { DEV_API_AUDIENCE, DEV_VAULT_TENANT_ID, issuerPaths } from '@codegate/dev-vault/token-issuer'
import type { ConfigSchema } from '@codegate/shared/config'
import { CodegateError } from '@codegate/shared/errors'
import { startAzurite, type Azurite } from './azurite.js'
import { describeExit } from './managed-process.js'
import { assertPortsFree, freePort } from './ports.js'
import { httpGet, type Readiness } from './readiness.js'
import { SERVICE_ENTRIES, ServiceProcess, type Service, type ServiceKind } from './service-process.js'
import { serviceConfig, type ConfigService } from './service-configs.js'

type Env = Record<string, string | undefined>

/** The third-party key of the local system: seeded into dev-vault, accepted by number-api. Not a secret. */
export const DEV_THIRD_PARTY_API_KEY = 'codegate-local-dev-key-not-a-secret'

/** Ports of `npm start`, as in the design (api 3000, number-api 7071 as `func start`, ...). */
export const DEFAULT_PORTS: LocalSystemPorts = { api: 3000, worker: 3001, numberApi: 7071, vault: 8443, queue: 10001, table: 10002 }

/** The launcher's variable for each port, named in "port in use" errors. */
export const PORT_VARIABLES: Record<keyof LocalSystemPorts, string> = {
  api: 'PORT',
  worker: 'WORKER_HEALTH_PORT',
  numberApi: 'NUMBER_API_PORT',
  vault: 'DEV_VAULT_PORT',
  queue: 'AZURITE_QUEUE_PORT',
  table: 'AZURITE_TABLE_PORT'
}

const SERVICE_LABELS: Record<keyof LocalSystemPorts, string> = {
  api: 'api',
  worker: 'worker (health probe)',
  numberApi: 'number-api',
  vault: 'dev-vault',
  queue: 'Azurite queue',
  table: 'Azurite table'
}

export interface LocalSystemPorts {
  api: number
  /** The first worker's health probe port. */
  worker: number
  numberApi: number
  vault: number
  queue: number
  table: number
}

/**
 * Variables the system sets to wire the parts together. `env` cannot change
 * them (a shell's real KEY_VAULT_URL must not point the local api at Azure);
 * `serviceEnv` can.
 */
export const WIRING_VARIABLES: readonly string[] = [
  'HOST', 'PORT', 'AZURE_CREDENTIAL',
  'STORAGE_CONNECTION_STRING', 'STORAGE_QUEUE_URL', 'STORAGE_TABLE_URL',
  'KEY_VAULT_URL', 'KEY_VAULT_CA_FILE', 'THIRD_PARTY_API_ENDPOINT',
  'THIRD_PARTY_API_KEYS', 'THIRD_PARTY_API_KEY', 'CODE_HASH_KEY',
  'DEV_VAULT_CERT_DIR', 'DEV_VAULT_HOSTNAMES', 'DEV_VAULT_URL',
  'AUTH_ISSUER', 'AUTH_AUDIENCE', 'AUTH_CA_FILE',
  'WORKER_HEALTH_HOST', 'WORKER_HEALTH_PORT'
]

// What a child inherits from the launcher's environment besides its config:
// enough for Node to run, and no proxy settings (everything is on 127.0.0.1).
const INHERITED = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LC_ALL', 'TZ', 'SystemRoot', 'NODE_EXTRA_CA_CERTS']

/** Where each kind of service's config schema lives (services/<it>/dist/config.js). */
const CONFIG_OF: Record<ServiceKind, ConfigService> = {
  vault: 'dev-vault',
  numberApi: 'number-api',
  api: 'api',
  worker: 'worker'
}

/** The schema of each kind of service, from the built services under `root`. */
async function serviceSchemas (root: string): Promise<Record<ServiceKind, ConfigSchema>> {
  const kinds = Object.keys(CONFIG_OF) as ServiceKind[]
  const schemas = await Promise.all(kinds.map(async (kind) => (await serviceConfig(root, CONFIG_OF[kind])).schema))
  return Object.fromEntries(kinds.map((kind, i) => [kind, schemas[i]])) as Record<ServiceKind, ConfigSchema>
}

export interface LocalSystemOptions {
  /** Repository root holding services/<name>/dist/main.js; default: this checkout. */
  root?: string
  /** Fixed ports, checked free before anything starts; the others are picked free. */
  ports?: Partial<LocalSystemPorts>
  /** Azurite data in <dataDir>/azurite, dev-vault's certificate in <dataDir>/dev-vault. Default: a temporary folder that stop() removes. */
  dataDir?: string
  /**
   * Settings (LOG_LEVEL, CODE_TTL_SECONDS, WORKER_MAX_BACKOFF_MS, ...) given to
   * every service whose config reads them; unknown and wiring variables are
   * ignored, so passing process.env is safe.
   */
  env?: Env
  /** Variables for one kind of service, applied last, wiring variables included. */
  serviceEnv?: Partial<Record<ServiceKind, Env>>
  /** What every child inherits (PATH, HOME, ...) is picked from this: an entry point's process.env. */
  baseEnv: Env
  /** Seeded into dev-vault and accepted by number-api; default DEV_THIRD_PARTY_API_KEY. */
  thirdPartyApiKey?: string
  /** Worker processes (competing consumers); default 1. The first one's probe is on ports.worker. */
  workers?: number
  /** Api processes (replicas sharing the storage); default 1. The first one is on ports.api, the others on free ports. */
  apis?: number
  /** Each output line of each process; names: azurite, vault, number-api, api, worker, worker-2, ... */
  onLine?: (name: string, line: string) => void
  /**
   * Opens an IPC channel to each worker and hands over what it sends: its
   * typed events (decode them with @codegate/shared/worker-events's
   * decodeWorkerEvents). Names as for onLine.
   */
  onWorkerMessage?: (name: string, message: unknown) => void
  /** A process (or Azurite) exited without being asked to, after startup. */
  onCrash?: (name: string, exit: { code: number | null, signal: NodeJS.Signals | null }) => void
  /** What is being started or stopped, for a launcher to print. */
  onProgress?: (message: string) => void
  /**
   * The storage connection string each worker gets, from Azurite's (e.g. to put
   * a proxy in front of one worker's table); default: Azurite's own. Called
   * once per worker (index from 0), after Azurite is up.
   */
  workerStorage?: (index: number, azurite: { host: string, queuePort: number, tablePort: number }) => Promise<string>
  /** Per process; default 60 s. */
  readyTimeoutMs?: number
  /** SIGTERM to SIGKILL, per process; default 15 s, past the services' own 10 s drain limits. */
  stopTimeoutMs?: number
  /** Aborting during startup stops what was started and rejects with the abort reason. */
  signal?: AbortSignal
}

export interface LocalSystem {
  urls: {
    /** Base URL of the api, e.g. http://127.0.0.1:3000 */
    api: string
    docs: string
    getCode: string
    /** The third-party endpoint the api calls (number-api). */
    thirdParty: string
    vault: string
    /** The first worker's health probe base URL. */
    worker: string | undefined
    queue: string
    table: string
  }
  ports: LocalSystemPorts
  /** The api's token issuer (dev-vault's), its token endpoint and the audience the api accepts. */
  auth: { issuer: string, tokenEndpoint: string, audience: string }
  /**
   * Access tokens for the api from dev-vault's token endpoint, cached and
   * renewed: \`await system.tokens.get('Codes.Issue')\`.
   */
  tokens: DevTokenSource
  /** Azurite's connection string, for tests that look into the queue or the table. */
  connectionString: string
  thirdPartyApiKey: string
  /**
   * The code hash key seeded into dev-vault: random for each system, kept
   * across dev-vault restarts, so tests and the soak can name codes as the
   * table and logs do (`new CodeHasher({ version: '', value })`).
   */
  codeHashKey: string
  /** dev-vault's certificate (PEM) to trust for urls.vault. */
  caFile: string
  dataDir: string
  azurite: Azurite
  vault: Service
  numberApi: Service
  /** The first api. */
  api: Service
  /** Every api replica (names: api, api-2, ...). */
  apis: Service[]
  /** The first worker, if any. */
  worker: Service | undefined
  workers: Service[]
  /** Every service, in start order. */
  services: () => Service[]
  /** Process ids of everything running, Azurite included. */
  pids: () => number[]
  /** Stops everything (api and workers first, Azurite last); idempotent. */
  stop: () => Promise<void>
}

export class ServiceNotBuiltError extends CodegateError {
  constructor (entry: string) {
    super('SERVICE_NOT_BUILT', `${entry} does not exist: run \`npm run build\` first`)
  }
}

/** The checkout this module belongs to (packages/stack/{src,dist}/ → ../../..). */
export function repositoryRoot (): string {
  return fileURLToPath(new URL('../../../', import.meta.url))
}

function pick (env: Env, names: Iterable<string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of names) {
    const value = env[name]
    if (value !== undefined && value !== '') out[name] = value
  }
  return out
}

/** The settings of `env` that a service with this config schema reads, wiring variables left out. */
export function settingsFor (schema: ConfigSchema, env: Env): Record<string, string> {
  return pick(env, Object.keys(schema.properties).filter((name) => !WIRING_VARIABLES.includes(name)))
}

/** A port that was free a moment ago and is none of `taken` (two probes in a row can return the same number). */
async function freePortExcept (taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort()
    if (!taken.has(port)) {
      taken.add(port)
      return port
    }
  }
}

/** Fails before anything starts when a service this system runs was not built. */
function assertBuilt (root: string, workerCount: number): void {
  for (const [kind, entry] of Object.entries(SERVICE_ENTRIES)) {
    if (kind === 'worker' && workerCount === 0) continue
    if (!existsSync(join(root, entry))) throw new ServiceNotBuiltError(entry)
  }
}

/** Where the system keeps its data: Azurite's folder and dev-vault's certificate. */
interface DataFolders {
  dataDir: string
  /** Made for this system, so stop() removes it. */
  temporary: boolean
  azuriteDir: string
  certDir: string
  caFile: string
}

async function dataFolders (given: string | undefined): Promise<DataFolders> {
  const dataDir = resolve(given ?? await mkdtemp(join(tmpdir(), 'codegate-system-')))
  const folders = { dataDir, temporary: given === undefined, azuriteDir: join(dataDir, 'azurite'), certDir: join(dataDir, 'dev-vault'), caFile: join(dataDir, 'dev-vault', 'cert.pem') }
  await mkdir(folders.azuriteDir, { recursive: true })
  await mkdir(folders.certDir, { recursive: true })
  return folders
}

/**
 * The startup phase: until it is over, a crash (or the caller's signal)
 * aborts it, and the process being waited for reports that; afterwards a
 * crash goes to onCrash.
 */
class Startup {
  readonly #controller = new AbortController()
  readonly #callerSignal: AbortSignal | undefined
  readonly #onCrash: LocalSystemOptions['onCrash']
  #over = false
  readonly #onAbort = (): void => { this.#controller.abort(this.#callerSignal?.reason) }

  constructor (options: LocalSystemOptions) {
    this.#callerSignal = options.signal
    this.#onCrash = options.onCrash
    this.#callerSignal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** For a process started during startup; undefined once it is over (a restart later is not startup). */
  get signal (): AbortSignal | undefined {
    return this.#over ? undefined : this.#controller.signal
  }

  get aborted (): boolean {
    return this.#controller.signal.aborted
  }

  get reason (): unknown {
    return this.#controller.signal.reason
  }

  abort (reason: unknown): void {
    this.#controller.abort(reason)
  }

  throwIfAborted (): void {
    this.#controller.signal.throwIfAborted()
  }

  crashed (name: string, exit: { code: number | null, signal: NodeJS.Signals | null }): void {
    if (!this.#over) this.abort(new CodegateError('PROCESS_CRASHED', `${name} ${describeExit(exit)} while the system was starting`))
    else this.#onCrash?.(name, exit)
  }

  /** Startup is over (or failed): the caller's signal no longer concerns it. */
  end (succeeded: boolean): void {
    if (succeeded) this.#over = true
    this.#callerSignal?.removeEventListener('abort', this.#onAbort)
  }
}

/** Where each part listens: fixed ports as given, the others picked free once Azurite holds its own, so none is picked twice. */
async function layoutPorts (azurite: Azurite, fixed: Partial<LocalSystemPorts>, apiCount: number, workerCount: number): Promise<{ ports: LocalSystemPorts, apiPorts: number[], workerPorts: number[] }> {
  const taken = new Set<number>([azurite.queuePort, azurite.tablePort, ...Object.values(fixed).filter((p) => p !== undefined)])
  const portOf = async (name: 'api' | 'worker' | 'numberApi' | 'vault'): Promise<number> => fixed[name] ?? await freePortExcept(taken)
  const ports: LocalSystemPorts = {
    api: await portOf('api'),
    worker: await portOf('worker'),
    numberApi: await portOf('numberApi'),
    vault: await portOf('vault'),
    queue: azurite.queuePort,
    table: azurite.tablePort
  }
  const workerPorts = workerCount > 0 ? [ports.worker] : []
  for (let i = 1; i < workerCount; i++) workerPorts.push(await freePortExcept(taken))
  const apiPorts = [ports.api]
  for (let i = 1; i < apiCount; i++) apiPorts.push(await freePortExcept(taken))
  return { ports, apiPorts, workerPorts }
}

/** One service to create: its own wiring variables and when it counts as ready. */
interface ServicePlan {
  kind: ServiceKind
  name: string
  port: number
  url: string
  wiring: Record<string, string>
  ready: Readiness
}

/** What the parts are told about each other. */
interface Wiring {
  host: string
  key: string
  codeHashKey: string
  vaultUrl: string
  thirdParty: string
  auth: LocalSystem['auth']
  storage: { AZURE_CREDENTIAL: string, STORAGE_CONNECTION_STRING: string }
  folders: DataFolders
}

function vaultPlan (w: Wiring, port: number): ServicePlan {
  const { host, vaultUrl, folders: { certDir, caFile } } = w
  return {
    kind: 'vault',
    name: 'vault',
    port,
    url: vaultUrl,
    wiring: {
      HOST: host,
      PORT: String(port),
      DEV_VAULT_CERT_DIR: certDir,
      DEV_VAULT_HOSTNAMES: `localhost,${host}`,
      DEV_VAULT_URL: vaultUrl,
      THIRD_PARTY_API_KEY: w.key,
      CODE_HASH_KEY: w.codeHashKey
    },
    ready: {
      // The api reads the certificate when it starts: ready means /healthz answers over TLS trusting cert.pem.
      description: `GET ${vaultUrl}/healthz trusting ${caFile}`,
      check: async () => {
        if (!existsSync(caFile)) return false
        const answer = await httpGet(`${vaultUrl}/healthz`, { ca: await readFile(caFile) })
        return !(answer instanceof Error) && answer.status === 200
      }
    }
  }
}

/** A plain-HTTP service on the wiring's host, ready once GET `readyPath` answers 2xx. */
function httpPlan (w: Wiring, kind: ServiceKind, name: string, port: number, readyPath: string, wiring: Record<string, string>): ServicePlan {
  const url = `http://${w.host}:${port}`
  return { kind, name, port, url, wiring, ready: { url: `${url}${readyPath}` } }
}

/** The name of the i-th of several instances: api, api-2, api-3, … */
const nth = (name: string, i: number): string => (i === 0 ? name : `${name}-${i + 1}`)

function numberApiPlan (w: Wiring, port: number): ServicePlan {
  return httpPlan(w, 'numberApi', 'number-api', port, '/healthz', { HOST: w.host, PORT: String(port), THIRD_PARTY_API_KEYS: w.key })
}

function apiPlan (w: Wiring, port: number, i: number): ServicePlan {
  // Ready on /readyz, not /healthz: it holds once queue, table and the third-party key are there, so getcode works.
  return httpPlan(w, 'api', nth('api', i), port, '/readyz', {
    ...w.storage,
    HOST: w.host,
    PORT: String(port),
    KEY_VAULT_URL: w.vaultUrl,
    KEY_VAULT_CA_FILE: w.folders.caFile,
    THIRD_PARTY_API_ENDPOINT: w.thirdParty,
    // Callers need dev-vault's tokens (AUTH_MODE=none in env or serviceEnv turns this off).
    AUTH_ISSUER: w.auth.issuer,
    AUTH_AUDIENCE: w.auth.audience,
    AUTH_CA_FILE: w.folders.caFile
  })
}

function workerPlan (w: Wiring, port: number, i: number, connectionString: string): ServicePlan {
  return httpPlan(w, 'worker', nth('worker', i), port, '/healthz', {
    ...w.storage,
    STORAGE_CONNECTION_STRING: connectionString,
    // To hash the codes of the original sample's messages.
    KEY_VAULT_URL: w.vaultUrl,
    KEY_VAULT_CA_FILE: w.folders.caFile,
    WORKER_HEALTH_HOST: w.host,
    WORKER_HEALTH_PORT: String(port)
  })
}

/** Starts every service of `list` at once; one failure aborts the others' waits, so none is left starting unseen. */
async function startTogether (list: Service[], startup: Startup): Promise<void> {
  const results = await Promise.allSettled(list.map(async (s) => {
    try {
      await s.start()
    } catch (err) {
      startup.abort(err)
      throw err
    }
  }))
  const failed = results.find((r) => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
}

export async function startLocalSystem (options: LocalSystemOptions): Promise<LocalSystem> {
  const root = resolve(options.root ?? repositoryRoot())
  const host = '127.0.0.1'
  const workerCount = options.workers ?? 1
  const apiCount = Math.max(1, options.apis ?? 1)
  const fixed = options.ports ?? {}
  const settings = options.env ?? {}
  const baseEnv = pick(options.baseEnv, INHERITED)
  const onLine = options.onLine ?? (() => {})
  const progress = options.onProgress ?? (() => {})

  options.signal?.throwIfAborted()
  assertBuilt(root, workerCount)
  const schemas = await serviceSchemas(root)
  // Fail before starting anything, naming the port and the variable to change.
  await assertPortsFree(Object.entries(fixed).filter(([, port]) => port !== undefined).map(([name, port]) => ({
    port,
    service: SERVICE_LABELS[name as keyof LocalSystemPorts],
    variable: PORT_VARIABLES[name as keyof LocalSystemPorts]
  })), host)

  const folders = await dataFolders(options.dataDir)
  const startup = new Startup(options)
  let azurite: Azurite | undefined
  const services: Service[] = []
  let stopping: Promise<void> | undefined
  const stopAll = async (): Promise<void> => {
    stopping ??= stopParts(services, azurite, folders, progress)
    await stopping
  }

  try {
    progress(`starting Azurite (data in ${folders.azuriteDir})`)
    azurite = await startAzurite({
      location: folders.azuriteDir,
      // Ports not fixed are left to startAzurite, which retries if one is taken meanwhile.
      ...(fixed.queue !== undefined ? { queuePort: fixed.queue } : {}),
      ...(fixed.table !== undefined ? { tablePort: fixed.table } : {}),
      host,
      ...(options.baseEnv.NODE_OPTIONS !== undefined ? { nodeOptions: options.baseEnv.NODE_OPTIONS } : {}),
      startTimeoutMs: options.readyTimeoutMs ?? 60_000,
      onLine: (_service, line) => { onLine('azurite', line) },
      onUnexpectedExit: (service, exit) => { startup.crashed(`azurite (${service})`, exit) }
    })
    const { ports, apiPorts, workerPorts } = await layoutPorts(azurite, fixed, apiCount, workerCount)
    progress(`Azurite queue on ${azurite.queueEndpoint}, table on ${azurite.tableEndpoint}`)
    startup.throwIfAborted()

    const vaultUrl = `https://${host}:${ports.vault}`
    const paths = issuerPaths(DEV_VAULT_TENANT_ID)
    const wiring: Wiring = {
      host,
      key: options.thirdPartyApiKey ?? DEV_THIRD_PARTY_API_KEY,
      codeHashKey: randomBytes(32).toString('base64'),
      vaultUrl,
      thirdParty: `http://${host}:${ports.numberApi}/api/RandomNumber`,
      auth: { issuer: `${vaultUrl}${paths.issuer}`, tokenEndpoint: `${vaultUrl}${paths.token}`, audience: DEV_API_AUDIENCE },
      storage: { AZURE_CREDENTIAL: 'dev', STORAGE_CONNECTION_STRING: azurite.connectionString },
      folders
    }
    const create = (plan: ServicePlan): Service => {
      const own = options.serviceEnv?.[plan.kind] ?? {}
      const service = new ServiceProcess({
        ...plan,
        env: { ...settingsFor(schemas[plan.kind], settings), ...plan.wiring, ...pick(own, Object.keys(own)) },
        baseEnv,
        root,
        readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
        stopTimeoutMs: options.stopTimeoutMs ?? 15_000,
        onLine,
        ...(plan.kind === 'worker' && options.onWorkerMessage !== undefined ? { onMessage: options.onWorkerMessage } : {}),
        onCrash: (name, exit) => { startup.crashed(name, exit) },
        startupSignal: () => startup.signal
      })
      services.push(service)
      return service
    }
    const vault = create(vaultPlan(wiring, ports.vault))
    const numberApi = create(numberApiPlan(wiring, ports.numberApi))
    const apis = apiPorts.map((port, i) => create(apiPlan(wiring, port, i)))
    const storageEndpoints = { host, queuePort: azurite.queuePort, tablePort: azurite.tablePort }
    const workerStorage = await Promise.all(workerPorts.map(async (_, i) =>
      await options.workerStorage?.(i, storageEndpoints) ?? wiring.storage.STORAGE_CONNECTION_STRING))
    const workers = workerPorts.map((port, i) => create(workerPlan(wiring, port, i, workerStorage[i] as string)))

    progress(`starting dev-vault (${vaultUrl}) and number-api (${numberApi.url})`)
    await startTogether([vault, numberApi], startup)
    progress(`starting api (${apis.map((a) => a.url).join(', ')})${workers.length > 0 ? ` and ${workers.length === 1 ? 'worker' : `${workers.length} workers`} (health ${workers.map((w) => w.port).join(', ')})` : ''}`)
    await startTogether([...apis, ...workers], startup)
    startup.throwIfAborted()
    startup.end(true)
    return {
      ...systemUrls(apis[0] as Service, wiring, workers, azurite),
      ports,
      auth: wiring.auth,
      tokens: new DevTokenSource({ tokenEndpoint: wiring.auth.tokenEndpoint, ca: await readFile(folders.caFile), audience: wiring.auth.audience }),
      connectionString: azurite.connectionString,
      thirdPartyApiKey: wiring.key,
      codeHashKey: wiring.codeHashKey,
      caFile: folders.caFile,
      dataDir: folders.dataDir,
      azurite,
      vault,
      numberApi,
      api: apis[0] as Service,
      apis,
      worker: workers[0],
      workers,
      services: () => [...services],
      pids: pidsOf(azurite, services),
      stop: stopAll
    }
  } catch (err) {
    startup.end(false)
    await stopAll()
    // A crash elsewhere shows up as an abort of the process being waited for: report the crash.
    throw startup.aborted ? startup.reason : err
  }
}

function systemUrls (api: Service, w: Wiring, workers: Service[], azurite: Azurite): Pick<LocalSystem, 'urls'> {
  return {
    urls: {
      api: api.url,
      docs: `${api.url}/docs`,
      getCode: `${api.url}/api/v1/getcode`,
      thirdParty: w.thirdParty,
      vault: w.vaultUrl,
      worker: workers[0]?.url,
      queue: azurite.queueEndpoint,
      table: azurite.tableEndpoint
    }
  }
}

/** Process ids of everything running, Azurite included, read when called. */
function pidsOf (azurite: Azurite, services: Service[]): () => number[] {
  return () => [...azurite.pids, ...services.flatMap((s) => s.pid !== undefined ? [s.pid] : [])]
}

/** Front first, so nothing calls a part that is already gone: api and workers, then dev-vault and number-api, then Azurite. */
async function stopParts (services: Service[], azurite: Azurite | undefined, folders: DataFolders, progress: (message: string) => void): Promise<void> {
  const byKind = (...kinds: ServiceKind[]): Service[] => services.filter((s) => kinds.includes(s.kind))
  const running = (list: Service[]): string => list.filter((s) => s.running).map((s) => s.name).join(', ')
  const front = byKind('api', 'worker')
  if (running(front) !== '') progress(`stopping ${running(front)}`)
  await Promise.all(front.map(async (s) => await s.stop()))
  const back = byKind('vault', 'numberApi')
  if (running(back) !== '') progress(`stopping ${running(back)}`)
  await Promise.all(back.map(async (s) => await s.stop()))
  if (azurite !== undefined) progress('stopping azurite')
  await azurite?.stop()
  if (folders.temporary) await rm(folders.dataDir, { recursive: true, force: true })
}
