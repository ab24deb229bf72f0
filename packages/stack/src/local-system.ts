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
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { DevTokenSource } from '@codegate/dev-vault/token-client'
import { DEV_API_AUDIENCE, DEV_VAULT_TENANT_ID, issuerPaths } from '@codegate/dev-vault/token-issuer'
import { schemas, type ConfigSchema } from '@codegate/shared/config'
import { CodegateError } from '@codegate/shared/errors'
import { startAzurite, type Azurite } from './azurite.js'
import { describeExit, startProcess, type ExitInfo, type ManagedProcess } from './managed-process.js'
import { assertPortsFree, freePort } from './ports.js'
import { httpGet, type Readiness } from './readiness.js'

type Env = Record<string, string | undefined>

/** The third-party key of the local system: seeded into dev-vault, accepted by number-api. Not a secret. */
export const DEV_THIRD_PARTY_API_KEY = 'codegate-local-dev-key-not-a-secret'

/**
 * Heap limits of the api and the worker, as their containers run them
 * (Dockerfile NODE_OPTIONS; compose.test.ts checks they agree). Left alone,
 * V8 lets a ~30 MB live heap grow past 130 MB before it collects (Node 24's
 * young generation alone may take 192 MB). The api's young generation is
 * 16 MB semi-spaces (Node 20's default): with 4 MB its scavenges cost
 * getcode about a fifth of its throughput on Node 20 and 24 alike; the
 * worker, whose throughput is the storage's, keeps 4 MB (docs/benchmarks.md).
 */
export const SERVICE_NODE_FLAGS: Partial<Record<ServiceKind, readonly string[]>> = {
  api: ['--max-old-space-size=96', '--max-semi-space-size=16'],
  worker: ['--max-old-space-size=96', '--max-semi-space-size=4']
}

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

export type ServiceKind = 'vault' | 'numberApi' | 'api' | 'worker'

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

const SCHEMAS: Record<ServiceKind, ConfigSchema> = {
  vault: schemas.devVault,
  numberApi: schemas.numberApi,
  api: schemas.api,
  worker: schemas.worker
}

const ENTRIES: Record<ServiceKind, string> = {
  vault: 'services/dev-vault/dist/main.js',
  numberApi: 'services/number-api/dist/main.js',
  api: 'services/api/dist/main.js',
  worker: 'services/worker/dist/main.js'
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
  /** Variables every child inherits (PATH, HOME, ...); default: those of this process. */
  baseEnv?: Env
  /** Seeded into dev-vault and accepted by number-api; default DEV_THIRD_PARTY_API_KEY. */
  thirdPartyApiKey?: string
  /** Worker processes (competing consumers); default 1. The first one's probe is on ports.worker. */
  workers?: number
  /** Api processes (replicas sharing the storage); default 1. The first one is on ports.api, the others on free ports. */
  apis?: number
  /** Each output line of each process; names: azurite, vault, number-api, api, worker, worker-2, ... */
  onLine?: (name: string, line: string) => void
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

/** The settings of `env` that a service of `kind` reads, wiring variables left out. */
export function settingsFor (kind: ServiceKind, env: Env): Record<string, string> {
  return pick(env, Object.keys(SCHEMAS[kind].properties).filter((name) => !WIRING_VARIABLES.includes(name)))
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

export async function startLocalSystem (options: LocalSystemOptions = {}): Promise<LocalSystem> {
  const root = resolve(options.root ?? repositoryRoot())
  const host = '127.0.0.1'
  const key = options.thirdPartyApiKey ?? DEV_THIRD_PARTY_API_KEY
  const workerCount = options.workers ?? 1
  const apiCount = Math.max(1, options.apis ?? 1)
  const fixed = options.ports ?? {}
  const settings = options.env ?? {}
  const baseEnv = pick(options.baseEnv ?? process.env, INHERITED)
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000
  const stopTimeoutMs = options.stopTimeoutMs ?? 15_000
  const onLine = options.onLine ?? (() => {})
  const progress = options.onProgress ?? (() => {})

  options.signal?.throwIfAborted()
  for (const [kind, entry] of Object.entries(ENTRIES)) {
    if (kind === 'worker' && workerCount === 0) continue
    if (!existsSync(join(root, entry))) throw new ServiceNotBuiltError(entry)
  }
  // Fail before starting anything, naming the port and the variable to change.
  await assertPortsFree(Object.entries(fixed).filter(([, port]) => port !== undefined).map(([name, port]) => ({
    port,
    service: SERVICE_LABELS[name as keyof LocalSystemPorts],
    variable: PORT_VARIABLES[name as keyof LocalSystemPorts]
  })), host)

  const temporary = options.dataDir === undefined
  const dataDir = resolve(options.dataDir ?? await mkdtemp(join(tmpdir(), 'codegate-system-')))
  const certDir = join(dataDir, 'dev-vault')
  const caFile = join(certDir, 'cert.pem')
  await mkdir(join(dataDir, 'azurite'), { recursive: true })
  await mkdir(certDir, { recursive: true })

  // Until startup is over a crash aborts it; afterwards it goes to onCrash.
  const startup = new AbortController()
  const onAbort = (): void => { startup.abort(options.signal?.reason) }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  let started = false
  const crashed = (name: string, exit: { code: number | null, signal: NodeJS.Signals | null }): void => {
    if (!started) {
      startup.abort(new CodegateError('PROCESS_CRASHED', `${name} ${describeExit(exit)} while the system was starting`))
    } else {
      options.onCrash?.(name, exit)
    }
  }

  let azurite: Azurite | undefined
  const services: Service[] = []
  let stopping: Promise<void> | undefined

  const stopAll = async (): Promise<void> => {
    if (stopping !== undefined) return await stopping
    stopping = (async () => {
      const byKind = (...kinds: ServiceKind[]): Service[] => services.filter((s) => kinds.includes(s.kind))
      // Front first, so nothing calls a part that is already gone.
      const running = (list: Service[]): string => list.filter((s) => s.running).map((s) => s.name).join(', ')
      const front = byKind('api', 'worker')
      if (running(front) !== '') progress(`stopping ${running(front)}`)
      await Promise.all(front.map(async (s) => await s.stop()))
      const back = byKind('vault', 'numberApi')
      if (running(back) !== '') progress(`stopping ${running(back)}`)
      await Promise.all(back.map(async (s) => await s.stop()))
      if (azurite !== undefined) progress('stopping azurite')
      await azurite?.stop()
      if (temporary) await rm(dataDir, { recursive: true, force: true })
    })()
    await stopping
  }

  try {
    progress(`starting Azurite (data in ${join(dataDir, 'azurite')})`)
    azurite = await startAzurite({
      location: join(dataDir, 'azurite'),
      // Ports not fixed are left to startAzurite, which retries if one is taken meanwhile.
      ...(fixed.queue !== undefined ? { queuePort: fixed.queue } : {}),
      ...(fixed.table !== undefined ? { tablePort: fixed.table } : {}),
      host,
      startTimeoutMs: readyTimeoutMs,
      onLine: (_service, line) => { onLine('azurite', line) },
      onUnexpectedExit: (service, exit) => { crashed(`azurite (${service})`, exit) }
    })
    // The other ports are picked once Azurite holds its own, so none can be picked twice.
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
    progress(`Azurite queue on ${azurite.queueEndpoint}, table on ${azurite.tableEndpoint}`)
    startup.signal.throwIfAborted()

    const vaultUrl = `https://${host}:${ports.vault}`
    const codeHashKey = randomBytes(32).toString('base64')
    const paths = issuerPaths(DEV_VAULT_TENANT_ID)
    const auth = { issuer: `${vaultUrl}${paths.issuer}`, tokenEndpoint: `${vaultUrl}${paths.token}`, audience: DEV_API_AUDIENCE }
    const thirdParty = `http://${host}:${ports.numberApi}/api/RandomNumber`
    const storage = { AZURE_CREDENTIAL: 'dev', STORAGE_CONNECTION_STRING: azurite.connectionString }

    const makeService = (kind: ServiceKind, name: string, port: number, url: string, wiring: Record<string, string>, ready: Readiness): Service => {
      const own = options.serviceEnv?.[kind] ?? {}
      const env: Record<string, string> = { ...settingsFor(kind, settings), ...wiring, ...pick(own, Object.keys(own)) }
      let current: ManagedProcess | undefined
      const service: Service = {
        name,
        kind,
        port,
        url,
        env,
        get process () { return current },
        get pid () { return current?.running === true ? current.pid : undefined },
        get running () { return current?.running === true },
        async start () {
          if (current?.running === true) return
          current = await startProcess({
            name,
            command: process.execPath,
            args: ['--enable-source-maps', ...(SERVICE_NODE_FLAGS[kind] ?? []), join(root, ENTRIES[kind])],
            env: { ...baseEnv, ...env },
            cwd: root,
            ready,
            readyTimeoutMs,
            stopTimeoutMs,
            onLine: (line) => { onLine(name, line) },
            ...(started ? {} : { signal: startup.signal })
          })
          const proc = current
          void proc.exited.then((exit) => { if (!exit.expected) crashed(name, exit) })
        },
        async stop () {
          return await current?.stop()
        },
        async restart (downMs = 0) {
          await service.stop()
          if (downMs > 0) await sleep(downMs)
          await service.start()
        },
        kill (signal) {
          current?.kill(signal)
        }
      }
      services.push(service)
      return service
    }

    const vault = makeService('vault', 'vault', ports.vault, vaultUrl, {
      HOST: host,
      PORT: String(ports.vault),
      DEV_VAULT_CERT_DIR: certDir,
      DEV_VAULT_HOSTNAMES: `localhost,${host}`,
      DEV_VAULT_URL: vaultUrl,
      THIRD_PARTY_API_KEY: key,
      CODE_HASH_KEY: codeHashKey
    }, {
      // The api reads the certificate when it starts: ready means /healthz answers over TLS trusting cert.pem.
      description: `GET ${vaultUrl}/healthz trusting ${caFile}`,
      check: async () => {
        if (!existsSync(caFile)) return false
        const answer = await httpGet(`${vaultUrl}/healthz`, { ca: await readFile(caFile) })
        return !(answer instanceof Error) && answer.status === 200
      }
    })
    const numberApi = makeService('numberApi', 'number-api', ports.numberApi, `http://${host}:${ports.numberApi}`, {
      HOST: host,
      PORT: String(ports.numberApi),
      THIRD_PARTY_API_KEYS: key
    }, { url: `http://${host}:${ports.numberApi}/healthz` })
    // Ready on /readyz, not /healthz: it holds once queue, table and the third-party key are there, so getcode works.
    const apis = apiPorts.map((port, i) => makeService('api', i === 0 ? 'api' : `api-${i + 1}`, port, `http://${host}:${port}`, {
      ...storage,
      HOST: host,
      PORT: String(port),
      KEY_VAULT_URL: vaultUrl,
      KEY_VAULT_CA_FILE: caFile,
      THIRD_PARTY_API_ENDPOINT: thirdParty,
      // Callers need dev-vault's tokens (AUTH_MODE=none in env or serviceEnv turns this off).
      AUTH_ISSUER: auth.issuer,
      AUTH_AUDIENCE: auth.audience,
      AUTH_CA_FILE: caFile
    }, { url: `http://${host}:${port}/readyz` }))
    const api = apis[0] as Service
    const storageEndpoints = { host, queuePort: azurite.queuePort, tablePort: azurite.tablePort }
    const workerStorage = await Promise.all(workerPorts.map(async (_, i) =>
      await options.workerStorage?.(i, storageEndpoints) ?? storage.STORAGE_CONNECTION_STRING))
    const workers = workerPorts.map((port, i) => makeService('worker', i === 0 ? 'worker' : `worker-${i + 1}`, port, `http://${host}:${port}`, {
      ...storage,
      STORAGE_CONNECTION_STRING: workerStorage[i] as string,
      // To hash the codes of the original sample's messages.
      KEY_VAULT_URL: vaultUrl,
      KEY_VAULT_CA_FILE: caFile,
      WORKER_HEALTH_HOST: host,
      WORKER_HEALTH_PORT: String(port)
    }, { url: `http://${host}:${port}/healthz` }))

    // One failure aborts the others' waits, so none is left starting unseen.
    const startTogether = async (list: Service[]): Promise<void> => {
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
    progress(`starting dev-vault (${vaultUrl}) and number-api (${numberApi.url})`)
    await startTogether([vault, numberApi])
    progress(`starting api (${apis.map((a) => a.url).join(', ')})${workers.length > 0 ? ` and ${workers.length === 1 ? 'worker' : `${workers.length} workers`} (health ${workers.map((w) => w.port).join(', ')})` : ''}`)
    await startTogether([...apis, ...workers])
    startup.signal.throwIfAborted()
    started = true
    options.signal?.removeEventListener('abort', onAbort)

    const az = azurite
    return {
      urls: {
        api: api.url,
        docs: `${api.url}/docs`,
        getCode: `${api.url}/api/v1/getcode`,
        thirdParty,
        vault: vaultUrl,
        worker: workers[0]?.url,
        queue: az.queueEndpoint,
        table: az.tableEndpoint
      },
      ports,
      auth,
      tokens: new DevTokenSource({ tokenEndpoint: auth.tokenEndpoint, ca: await readFile(caFile), audience: auth.audience }),
      connectionString: az.connectionString,
      thirdPartyApiKey: key,
      codeHashKey,
      caFile,
      dataDir,
      azurite: az,
      vault,
      numberApi,
      api,
      apis,
      worker: workers[0],
      workers,
      services: () => [...services],
      pids: () => [...az.pids, ...services.flatMap((s) => s.pid !== undefined ? [s.pid] : [])],
      stop: stopAll
    }
  } catch (err) {
    options.signal?.removeEventListener('abort', onAbort)
    await stopAll()
    // A crash elsewhere shows up as an abort of the process being waited for: report the crash.
    throw startup.signal.aborted ? startup.signal.reason : err
  }
}
