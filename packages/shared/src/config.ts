/**
 * The one place that reads the environment. Every process validates its
 * variables against a JSON schema at start and refuses to run, naming each bad
 * variable, rather than failing later on the first request.
 *
 * The variable names of the original sample app (KEY_VAULT_URL,
 * THIRD_PARTY_API_SECRET_NAME, THIRD_PARTY_API_ENDPOINT, STORAGE_QUEUE_URL) are
 * kept unchanged so existing deployments can switch over.
 */
import envSchema from 'env-schema'
import { ConfigError } from './errors.js'
import { MAX_QUEUE_SHARDS, poisonQueueName, queueNameProblem, shardQueueNames } from './shards.js'

type Env = Record<string, string | undefined>

interface JsonSchemaProperty {
  type: 'string' | 'integer' | 'number' | 'boolean'
  default?: string | number | boolean
  minimum?: number
  maximum?: number
  enum?: string[]
  pattern?: string
  minLength?: number
  description: string
}

type Properties = Record<string, JsonSchemaProperty>

/** A schema fragment: the variables, and which of them must be set. */
export interface ConfigSchema {
  properties: Properties
  required: string[]
}

const log: Properties = {
  LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', description: 'pino log level' }
}

const observability: Properties = {
  OTEL_EXPORTER_OTLP_ENDPOINT: { type: 'string', pattern: '^https?://', description: 'Turns tracing on: spans go to this OTLP/HTTP collector (<it>/v1/traces, JSON), e.g. http://127.0.0.1:4318; the exporter also reads the other standard OTEL_EXPORTER_OTLP_* variables. With it, the numbers of /metrics go to <it>/v1/metrics too. Unset (and no APPLICATIONINSIGHTS_CONNECTION_STRING): no tracing, no trace context in messages or rows' },
  APPLICATIONINSIGHTS_CONNECTION_STRING: { type: 'string', pattern: '(^|;)\\s*[Ii]nstrumentation[Kk]ey=[^;\\s]+', description: 'Turns tracing on: spans, and the numbers of /metrics, go to this Application Insights resource (Azure Monitor exporter, loaded only when set). infra/deploy.sh sets it from a Container Apps secret. With OTEL_EXPORTER_OTLP_ENDPOINT too, everything goes to both' },
  TRACES_SAMPLE_RATIO: { type: 'number', minimum: 0, maximum: 1, default: 1, description: 'Share of traces kept when tracing is on, chosen by trace id where a trace starts (getcode, sign-in, an expire); a code\'s activate follows its getcode\'s choice. infra/deploy.sh sets 0.05 (its TRACE_SAMPLE_RATIO): a code makes about 25 spans. Metrics are not sampled' },
  METRICS_ENABLED: { type: 'boolean', default: true, description: 'Serve Prometheus metrics at /metrics (the api\'s port; the worker\'s WORKER_HEALTH_PORT). Counts only, never a code; set false where the api\'s port is public and nothing scrapes it' }
}

const storage: Properties = {
  STORAGE_CONNECTION_STRING: { type: 'string', minLength: 1, description: 'Storage connection string (Azurite locally: UseDevelopmentStorage=true). When set, it is used for queue and table instead of Entra ID.' },
  STORAGE_QUEUE_URL: { type: 'string', pattern: '^https?://', description: 'Queue URL in Azure, e.g. https://<account>.queue.core.windows.net/code-requests; accessed with Entra ID (managed identity).' },
  STORAGE_TABLE_URL: { type: 'string', pattern: '^https?://', description: 'Table service URL; defaults to STORAGE_QUEUE_URL\'s account with .table. in place of .queue.' },
  STORAGE_QUEUE_NAME: { type: 'string', pattern: '^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$', default: 'code-requests', description: 'Queue name used with STORAGE_CONNECTION_STRING (with STORAGE_QUEUE_URL the name is in the URL)' },
  QUEUE_SHARDS: { type: 'integer', minimum: 1, maximum: MAX_QUEUE_SHARDS, default: 1, description: 'Queues the codes are spread over by hash: the base queue, then <base>-1 … <base>-(N-1); 1 is the single base queue. Workers read every shard; api and worker must agree (docs/scale.md)' },
  CODES_TABLE_NAME: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]{2,62}$', default: 'codes', description: 'Table of valid codes' },
  QUEUE_MESSAGE_ENCODING: { type: 'string', enum: ['base64', 'text'], default: 'base64', description: 'How message text is encoded; base64 is what Azure Functions queue triggers expect' },
  CODE_TTL_SECONDS: { type: 'integer', minimum: 1, maximum: 604800, default: 600, description: 'How long a code stays valid after it is issued' },
  STORAGE_TIMEOUT_MS: { type: 'integer', minimum: 100, default: 5000, description: 'Timeout of one storage call (queue: per try; table: the whole call, its retry included). A sign-in answers within about this, 503 when the table does not' }
}

const credential: Properties = {
  AZURE_CREDENTIAL: { type: 'string', enum: ['default', 'dev'], default: 'default', description: 'default: DefaultAzureCredential (managed identity in Azure, az login on a laptop). dev: a fixed local token, accepted only by dev-vault.' }
}

const vault: Properties = {
  KEY_VAULT_URL: { type: 'string', pattern: '^https?://', description: 'Key Vault holding the third-party API key and the code hash key, e.g. https://<vault>.vault.azure.net. The worker reads only the code hash key, to hash the original sample\'s messages; a worker without it poisons them' },
  KEY_VAULT_CA_FILE: { type: 'string', minLength: 1, description: 'PEM certificate to trust for KEY_VAULT_URL (dev-vault\'s self-signed certificate); unset in Azure' },
  THIRD_PARTY_API_SECRET_NAME: { type: 'string', pattern: '^[0-9A-Za-z-]{1,127}$', default: 'third-party-api-key', description: 'Name of the secret that holds the third-party API key' }
}

/** The key codes are hashed with at rest (docs/security.md, "Codes at rest"). */
const codeHash: Properties = {
  CODE_HASH_SECRET_NAME: { type: 'string', pattern: '^[0-9A-Za-z-]{1,127}$', default: 'code-hash-key', description: 'Name of the Key Vault secret holding the key of HMAC-SHA256(key, code), what the table and queue store instead of a code. Its newest enabled version hashes; the one before is still accepted at sign-in for a code\'s life after a rotation' },
  CODE_HASH_KEY_REFRESH_SECONDS: { type: 'integer', minimum: 10, maximum: 86400, default: 300, description: 'How often the code hash key\'s versions are read again, so a rotation reaches every process without a restart' }
}

const workerVault: Properties = {
  KEY_VAULT_URL: { type: 'string', pattern: '^https?://', description: vault.KEY_VAULT_URL?.description ?? '' },
  KEY_VAULT_CA_FILE: vault.KEY_VAULT_CA_FILE as JsonSchemaProperty
}

const api: Properties = {
  THIRD_PARTY_API_ENDPOINT: { type: 'string', pattern: '^https?://', description: 'The third-party RandomNumber endpoint, e.g. https://<app>.azurewebsites.net/api/RandomNumber' },
  LOG_REQUESTS: { type: 'boolean', default: true, description: 'Log each request (Fastify\'s "incoming request" and "request completed" lines). infra/deploy.sh sets false: one line per code event is what Log Analytics is paid for. Probe requests (/healthz, /readyz) are never logged' },
  THIRD_PARTY_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 3000, description: 'Time allowed for the third-party call before getcode answers 504' },
  HOST: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to listen on (0.0.0.0 in a container)' },
  PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000, description: 'Port to listen on' },
  RATE_LIMIT_MAX: { type: 'integer', minimum: 1, default: 60, description: 'Requests per client and window on getcode and signin' },
  RATE_LIMIT_WINDOW_MS: { type: 'integer', minimum: 1000, default: 60000, description: 'Rate-limit window' },
  SIGNIN_MAX_FAILURES: { type: 'integer', minimum: 1, default: 5, description: 'Failed sign-ins from one client address (an IPv6 address counts as its /64), whatever subjects they name, before the address is locked (docs/security.md)' },
  SIGNIN_SUBJECT_MAX_FAILURES: { type: 'integer', minimum: 1, default: 3, description: 'Failed sign-ins for one subject from one client address before that address is locked for that subject; other addresses are not (docs/security.md)' },
  SIGNIN_LOCKOUT_SECONDS: { type: 'integer', minimum: 1, default: 900, description: 'How long a lock lasts; failures are forgotten this long after the last one' },
  SIGNIN_LIMITS_STORE: { type: 'string', enum: ['table', 'memory'], default: 'table', description: 'Where failure counts and locks live: table (SIGNIN_LIMITS_TABLE_NAME, shared by every api replica and kept across restarts) or memory (one process only)' },
  SIGNIN_LIMITS_TABLE_NAME: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]{2,62}$', default: 'signinlimits', description: 'Table of failure counts and locks (with SIGNIN_LIMITS_STORE=table)' },
  TRUST_PROXY: { type: 'string', pattern: '^[0-9A-Za-z.:/, ]*$', default: '', description: 'Addresses or CIDRs of the proxies in front of the api (e.g. uniquelocal behind Container Apps ingress); the client address is then the last X-Forwarded-For entry not from one of them. Empty: X-Forwarded-For is ignored' }
}

/** The api's settings that the Azure Functions app's HTTP triggers use (the host does the listening). */
const functionsApi: Properties = {
  FUNCTIONS_ENABLED: { type: 'string', enum: ['all', 'api', 'worker'], default: 'all', description: 'Which functions the app registers: all, api (getcode and sign-in) or worker (the queue trigger), so the two sides can run as two apps with identities of their own. KEY_VAULT_URL, THIRD_PARTY_API_ENDPOINT and (with AUTH_MODE=entra) AUTH_ISSUER and AUTH_AUDIENCE are required unless worker' },
  THIRD_PARTY_API_ENDPOINT: api.THIRD_PARTY_API_ENDPOINT as JsonSchemaProperty,
  THIRD_PARTY_TIMEOUT_MS: api.THIRD_PARTY_TIMEOUT_MS as JsonSchemaProperty,
  SIGNIN_MAX_FAILURES: api.SIGNIN_MAX_FAILURES as JsonSchemaProperty,
  SIGNIN_SUBJECT_MAX_FAILURES: api.SIGNIN_SUBJECT_MAX_FAILURES as JsonSchemaProperty,
  SIGNIN_LOCKOUT_SECONDS: api.SIGNIN_LOCKOUT_SECONDS as JsonSchemaProperty,
  SIGNIN_LIMITS_STORE: api.SIGNIN_LIMITS_STORE as JsonSchemaProperty,
  SIGNIN_LIMITS_TABLE_NAME: api.SIGNIN_LIMITS_TABLE_NAME as JsonSchemaProperty
}

/** Load shedding (docs/benchmarks.md, "Overload", has the measurements behind the defaults). */
const overload: Properties = {
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: { type: 'integer', minimum: 0, default: 200, description: 'Mean event-loop delay over one sample above which getcode and signin answer 503 overloaded and /readyz 503; 0: not checked' },
  PRESSURE_MAX_HEAP_USED_PERCENT: { type: 'number', minimum: 0, maximum: 100, default: 90, description: 'V8 heap in use, in percent of the heap limit (--max-old-space-size), above which getcode and signin answer 503 overloaded and /readyz 503; 0: not checked' },
  PRESSURE_MAX_EVENT_LOOP_UTILIZATION: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'Share of one sample the event loop was busy (0..1) above which getcode and signin answer 503 overloaded and /readyz 503; 0: not checked' },
  PRESSURE_SAMPLE_INTERVAL_MS: { type: 'integer', minimum: 10, default: 500, description: 'How often event-loop delay, utilization and heap are sampled: how quickly shedding starts and stops' },
  OVERLOAD_RETRY_AFTER_SECONDS: { type: 'integer', minimum: 1, default: 2, description: 'Retry-After of every 503 overloaded answer' },
  OUTGOING_MAX_IN_FLIGHT: { type: 'integer', minimum: 1, default: 64, description: 'Codes being issued at once, i.e. third-party calls and queue sends in flight' },
  OUTGOING_MAX_WAITING: { type: 'integer', minimum: 0, default: 64, description: 'getcode requests waiting for one of OUTGOING_MAX_IN_FLIGHT; one more answers 503 overloaded at once' },
  OUTGOING_MAX_WAIT_MS: { type: 'integer', minimum: 0, default: 250, description: 'How long a getcode waits for one of OUTGOING_MAX_IN_FLIGHT before it answers 503 overloaded; 0: no limit' }
}

/** Who may call getcode and sign-in: Entra ID access tokens with app roles (docs in README "Callers"). */
const callerAuth: Properties = {
  AUTH_MODE: { type: 'string', enum: ['entra', 'none'], default: 'entra', description: 'entra: getcode and sign-in need an Entra ID access token (Bearer) with the role below. none: anyone who can reach the api may call them, as in the original sample; logged as a warning at every start' },
  AUTH_ISSUER: { type: 'string', pattern: '^https://', description: 'Token issuer (iss), whose /.well-known/openid-configuration names the signing keys, e.g. https://login.microsoftonline.com/<tenant id>/v2.0. Required with AUTH_MODE=entra' },
  AUTH_AUDIENCE: { type: 'string', minLength: 1, description: 'Comma-separated accepted audiences (aud): the api app registration\'s client id (v2 tokens) and/or its application ID URI. Required with AUTH_MODE=entra' },
  AUTH_ISSUE_ROLE: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,120}$', default: 'Codes.Issue', description: 'App role a caller\'s token must carry (roles claim) to call getcode' },
  AUTH_VERIFY_ROLE: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,120}$', default: 'Codes.Verify', description: 'App role a caller\'s token must carry to call sign-in' },
  AUTH_CLOCK_SKEW_SECONDS: { type: 'integer', minimum: 0, maximum: 300, default: 60, description: 'Clock difference allowed when checking a token\'s exp and nbf' },
  AUTH_CA_FILE: { type: 'string', minLength: 1, description: 'PEM certificate to trust for AUTH_ISSUER\'s discovery and key set (dev-vault\'s self-signed certificate); unset in Azure' }
}

const worker: Properties = {
  WORKER_BATCH_SIZE: { type: 'integer', minimum: 1, maximum: 32, default: 32, description: 'Messages per receive (Azure allows 32)' },
  WORKER_MAX_IN_FLIGHT: { type: 'integer', minimum: 1, default: 64, description: 'Messages handled at once' },
  WORKER_VISIBILITY_TIMEOUT_SECONDS: { type: 'integer', minimum: 1, maximum: 3600, description: 'How long a received message stays hidden while it is handled: what a crashed worker delays its codes by. Default 30, or a quarter of CODE_TTL_SECONDS if less; at most half of it' },
  WORKER_MAX_BACKOFF_MS: { type: 'integer', minimum: 10, default: 1000, description: 'Cap of the randomized back-off when the queue is empty: the worst-case activation delay of an idle system' },
  WORKER_MAX_DEQUEUE_COUNT: { type: 'integer', minimum: 1, default: 5, description: 'Failed attempts before a message goes to the poison queue' },
  WORKER_SHUTDOWN_TIMEOUT_MS: { type: 'integer', minimum: 0, default: 10000, description: 'How long shutdown waits for messages in flight' },
  WORKER_HEALTH_PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3001, description: 'Port of /healthz and /readyz; 0 picks a free port' },
  WORKER_HEALTH_HOST: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address of the probe endpoint (0.0.0.0 in a container)' },
  WORKER_SUMMARY_INTERVAL_SECONDS: { type: 'integer', minimum: 1, default: 30, description: 'Seconds between summary log lines' }
}

const numberApi: Properties = {
  THIRD_PARTY_API_KEYS: { type: 'string', minLength: 1, description: 'Comma-separated keys accepted by number-api (several, for rotation)' },
  HOST: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to listen on' },
  PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 7071, description: 'Port to listen on' }
}

const devVault: Properties = {
  HOST: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to listen on' },
  PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8443, description: 'Port to listen on' },
  DEV_VAULT_CERT_DIR: { type: 'string', minLength: 1, default: '.data/dev-vault', description: 'Where dev-vault keeps its certificate (cert.pem is what clients trust) and its token-signing keys' },
  DEV_VAULT_URL: { type: 'string', pattern: '^https://[^/]+$', description: 'Base URL other processes reach dev-vault at (its token issuer is <this>/<tenant>/v2.0), e.g. https://dev-vault:8443. Default: https://<HOST, or 127.0.0.1 for a wildcard>:<PORT>' },
  DEV_VAULT_HOSTNAMES: { type: 'string', minLength: 1, default: 'localhost,127.0.0.1', description: 'Comma-separated names and addresses put in the certificate' },
  THIRD_PARTY_API_SECRET_NAME: vault.THIRD_PARTY_API_SECRET_NAME as JsonSchemaProperty,
  THIRD_PARTY_API_KEY: { type: 'string', minLength: 1, description: 'Value seeded into the secret THIRD_PARTY_API_SECRET_NAME at start' },
  CODE_HASH_SECRET_NAME: codeHash.CODE_HASH_SECRET_NAME as JsonSchemaProperty,
  CODE_HASH_KEY: { type: 'string', minLength: 32, description: 'Value seeded into the secret CODE_HASH_SECRET_NAME at start (at least 32 characters); unset: dev-vault makes a random one' }
}

export const schemas = {
  api: { properties: { ...log, ...observability, ...storage, ...credential, ...vault, ...codeHash, ...api, ...overload, ...callerAuth }, required: ['KEY_VAULT_URL', 'THIRD_PARTY_API_ENDPOINT'] },
  worker: { properties: { ...log, ...observability, ...storage, ...credential, ...workerVault, ...codeHash, ...worker }, required: [] },
  // KEY_VAULT_URL and THIRD_PARTY_API_ENDPOINT are required unless FUNCTIONS_ENABLED=worker (loadFunctionsConfig).
  functions: { properties: { ...log, ...storage, ...credential, ...vault, ...codeHash, ...functionsApi, ...callerAuth }, required: [] },
  numberApi: { properties: { ...log, ...numberApi }, required: ['THIRD_PARTY_API_KEYS'] },
  devVault: { properties: { ...log, ...devVault }, required: [] }
} satisfies Record<string, ConfigSchema>

type Raw = Record<string, string | number | boolean | undefined>

/** Validates `env` against `schema`; throws ConfigError naming every bad variable. */
export function readEnv (schema: ConfigSchema, env: Env): Raw {
  const data: Env = {}
  for (const name of Object.keys(schema.properties)) {
    // An empty variable is treated as unset, as a shell user would expect.
    if (env[name] !== undefined && env[name] !== '') data[name] = env[name]
  }
  try {
    return envSchema<Raw>({ schema: { type: 'object', ...schema }, data, dotenv: false })
  } catch (err) {
    const errors = (err as { errors?: { instancePath: string, message?: string, params: { missingProperty?: string } }[] }).errors
    if (errors === undefined) throw err
    throw new ConfigError(errors.map((e) => e.params.missingProperty !== undefined
      ? { variable: e.params.missingProperty, problem: 'is required' }
      : { variable: e.instancePath.slice(1), problem: e.message ?? 'is invalid' }))
  }
}

export interface LogConfig {
  logLevel: string
}

export interface ObservabilityConfig {
  /** Serve /metrics. */
  metricsEnabled: boolean
  /** OTLP/HTTP collector. Tracing is on when this or azureMonitorConnectionString is set. */
  otlpEndpoint?: string
  /** Application Insights connection string (its instrumentation key is not a secret, but is kept out of logs). */
  azureMonitorConnectionString?: string
  /** Share of traces kept (0..1), decided where a trace starts; 1 when absent. */
  tracesSampleRatio?: number
}

function observabilityConfig (raw: Raw): ObservabilityConfig {
  const otlpEndpoint = optional(raw, 'OTEL_EXPORTER_OTLP_ENDPOINT')
  const azureMonitorConnectionString = optional(raw, 'APPLICATIONINSIGHTS_CONNECTION_STRING')
  return {
    metricsEnabled: raw.METRICS_ENABLED as boolean,
    tracesSampleRatio: raw.TRACES_SAMPLE_RATIO as number,
    ...(otlpEndpoint !== undefined ? { otlpEndpoint } : {}),
    ...(azureMonitorConnectionString !== undefined ? { azureMonitorConnectionString } : {})
  }
}

/** Whether a process with this config traces (an exporter is set). */
export function tracingEnabled (config: ObservabilityConfig): boolean {
  return config.otlpEndpoint !== undefined || config.azureMonitorConnectionString !== undefined
}

export type StorageAuth =
  | { kind: 'connection-string', connectionString: string, queueName: string }
  | { kind: 'url', queueUrl: string, tableUrl: string }

export interface StorageConfig {
  auth: StorageAuth
  /** Queue shards (QUEUE_SHARDS); 1 when omitted: the single base queue. */
  queueShards?: number
  tableName: string
  messageEncoding: 'base64' | 'text'
  codeTtlSeconds: number
  storageTimeoutMs: number
}

export interface CredentialConfig {
  credential: 'default' | 'dev'
}

export interface VaultConfig {
  keyVaultUrl: string
  keyVaultCaFile?: string
  secretName: string
}

/** Where the code hash key lives and how often it is read again. */
export interface CodeHashConfig {
  secretName: string
  refreshSeconds: number
}

/**
 * How the api authenticates its callers. `none` is the original sample's open
 * endpoint; `entra` checks a bearer token against the issuer's signing keys.
 */
export type CallerAuthConfig =
  | { mode: 'none' }
  | {
    mode: 'entra'
    /** Exact `iss`; also where discovery is read: <issuer>/.well-known/openid-configuration. */
    issuer: string
    /** Any of these as `aud`. */
    audiences: string[]
    issueRole: string
    verifyRole: string
    clockSkewSeconds: number
    /** PEM file trusted for the issuer's https (dev-vault); unset in Azure. */
    caFile?: string
  }

export interface ApiConfig extends LogConfig, ObservabilityConfig, StorageConfig, CredentialConfig, VaultConfig {
  codeHash: CodeHashConfig
  callerAuth: CallerAuthConfig
  /** Fastify's per-request log lines (probes are never logged). */
  logRequests: boolean
  thirdPartyEndpoint: string
  thirdPartyTimeoutMs: number
  host: string
  port: number
  rateLimitMax: number
  rateLimitWindowMs: number
  /** Failed sign-ins per client address before it is locked. */
  signinMaxFailures: number
  /** Failed sign-ins per subject and client address before that address is locked for that subject. */
  signinSubjectMaxFailures: number
  signinLockoutSeconds: number
  signinLimitsStore: 'table' | 'memory'
  signinLimitsTableName: string
  /** Proxies whose X-Forwarded-For entries are believed; empty: none. */
  trustProxy: string[]
  overload: OverloadConfig
}

/** When the api sheds load; a limit of 0 is not checked. */
export interface OverloadConfig {
  maxEventLoopDelayMs: number
  /** Percent of V8's heap limit (heap_size_limit); the api turns it into bytes at start. */
  maxHeapUsedPercent: number
  maxEventLoopUtilization: number
  sampleIntervalMs: number
  retryAfterSeconds: number
  /** Codes being issued at once (third-party call, then queue send). */
  maxInFlight: number
  /** getcode requests waiting for a slot, and how long each may wait (0: no limit). */
  maxWaiting: number
  maxWaitMs: number
}

export interface WorkerConfig extends LogConfig, ObservabilityConfig, StorageConfig, CredentialConfig {
  /**
   * The vault of the code hash key, to hash the original sample's messages
   * (and earlier envelopes) that carry a code in clear; without it they are
   * poisoned. Set by npm start, compose and infra/deploy.sh.
   */
  codeHashVault?: Omit<VaultConfig, 'secretName'> & CodeHashConfig
  batchSize: number
  maxInFlight: number
  visibilityTimeoutSeconds: number
  maxBackoffMs: number
  maxDequeueCount: number
  shutdownTimeoutMs: number
  healthHost: string
  healthPort: number
  summaryIntervalSeconds: number
}

/**
 * The Azure Functions app: getcode and sign-in as HTTP triggers, the worker as
 * a queue trigger. Batching, polling, retries and poison are the host's
 * (services/functions/host.json), not variables.
 */
export interface FunctionsConfig extends LogConfig, StorageConfig, CredentialConfig {
  enabled: 'all' | 'api' | 'worker'
  /**
   * As the container worker's: the vault of the code hash key, which the
   * queue trigger needs to hash the original sample's messages. Always set
   * when getcode and sign-in run (KEY_VAULT_URL is then required).
   */
  codeHashVault?: Omit<VaultConfig, 'secretName'> & CodeHashConfig
  /** What getcode and sign-in need; absent when only the worker runs. */
  api?: FunctionsApiConfig
}

export interface FunctionsApiConfig extends VaultConfig {
  codeHash: CodeHashConfig
  /** As the api's: getcode and sign-in need a token with the role (services/api/src/caller-auth.ts). */
  callerAuth: CallerAuthConfig
  thirdPartyEndpoint: string
  thirdPartyTimeoutMs: number
  signinMaxFailures: number
  signinSubjectMaxFailures: number
  signinLockoutSeconds: number
  signinLimitsStore: 'table' | 'memory'
  signinLimitsTableName: string
}

export interface NumberApiConfig extends LogConfig {
  keys: string[]
  host: string
  port: number
}

export interface DevVaultConfig extends LogConfig {
  host: string
  port: number
  /** Base URL clients use (the issuer's iss is built from it); default from host and the bound port. */
  publicUrl?: string
  certDir: string
  hostnames: string[]
  seed: Record<string, string>
  /** The code hash key seeded at start: this value, or a random one when none is given. */
  codeHashSeed?: { name: string, value?: string }
}

const str = (raw: Raw, name: string): string => raw[name] as string
const int = (raw: Raw, name: string): number => raw[name] as number
const optional = (raw: Raw, name: string): string | undefined => raw[name] as string | undefined
const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter((s) => s !== '')

function storageConfig (raw: Raw): StorageConfig {
  const connectionString = optional(raw, 'STORAGE_CONNECTION_STRING')
  const queueUrl = optional(raw, 'STORAGE_QUEUE_URL')
  let auth: StorageAuth
  if (connectionString !== undefined) {
    auth = { kind: 'connection-string', connectionString, queueName: str(raw, 'STORAGE_QUEUE_NAME') }
  } else if (queueUrl !== undefined) {
    const tableUrl = optional(raw, 'STORAGE_TABLE_URL') ?? deriveTableUrl(queueUrl)
    if (tableUrl === undefined) {
      throw new ConfigError([{ variable: 'STORAGE_TABLE_URL', problem: `is required: it cannot be derived from STORAGE_QUEUE_URL ${queueUrl}` }])
    }
    auth = { kind: 'url', queueUrl, tableUrl }
  } else {
    throw new ConfigError([{ variable: 'STORAGE_QUEUE_URL', problem: 'is required (or STORAGE_CONNECTION_STRING for Azurite)' }])
  }
  const queueShards = int(raw, 'QUEUE_SHARDS')
  checkQueueNames(auth, queueShards)
  return {
    auth,
    queueShards,
    tableName: str(raw, 'CODES_TABLE_NAME'),
    messageEncoding: str(raw, 'QUEUE_MESSAGE_ENCODING') as 'base64' | 'text',
    codeTtlSeconds: int(raw, 'CODE_TTL_SECONDS'),
    storageTimeoutMs: int(raw, 'STORAGE_TIMEOUT_MS')
  }
}

/** The base queue's name: STORAGE_QUEUE_NAME, or the last path segment of STORAGE_QUEUE_URL. */
export function baseQueueName (auth: StorageAuth): string {
  if (auth.kind === 'connection-string') return auth.queueName
  return new URL(auth.queueUrl).pathname.replace(/\/+$/, '').split('/').pop() ?? ''
}

/**
 * Every queue name derived from the base (the shards and the poison queue)
 * must itself be a valid Azure queue name; checked here so a bad one stops
 * the process at start instead of failing its first send.
 */
function checkQueueNames (auth: StorageAuth, shards: number): void {
  const base = baseQueueName(auth)
  const variable = auth.kind === 'connection-string' ? 'STORAGE_QUEUE_NAME' : 'STORAGE_QUEUE_URL'
  for (const name of [...shardQueueNames(base, shards), poisonQueueName(base)]) {
    const problem = queueNameProblem(name)
    if (problem === undefined) continue
    const derived = name === base ? `the queue name "${name}"` : `the derived queue name "${name}" (QUEUE_SHARDS=${shards})`
    throw new ConfigError([{ variable, problem: `gives ${derived}, which ${problem}` }])
  }
}

/** https://acct.queue.core.windows.net/q → https://acct.table.core.windows.net */
export function deriveTableUrl (queueUrl: string): string | undefined {
  const url = new URL(queueUrl)
  if (!url.hostname.includes('.queue.')) return undefined
  return `${url.protocol}//${url.host.replace('.queue.', '.table.')}`
}

export function loadApiConfig (env: Env = process.env): ApiConfig {
  const raw = readEnv(schemas.api, env)
  const caFile = optional(raw, 'KEY_VAULT_CA_FILE')
  return {
    logLevel: str(raw, 'LOG_LEVEL'),
    ...observabilityConfig(raw),
    ...storageConfig(raw),
    credential: str(raw, 'AZURE_CREDENTIAL') as 'default' | 'dev',
    keyVaultUrl: str(raw, 'KEY_VAULT_URL'),
    ...(caFile !== undefined ? { keyVaultCaFile: caFile } : {}),
    secretName: str(raw, 'THIRD_PARTY_API_SECRET_NAME'),
    codeHash: codeHashConfig(raw),
    logRequests: raw.LOG_REQUESTS as boolean,
    thirdPartyEndpoint: str(raw, 'THIRD_PARTY_API_ENDPOINT'),
    thirdPartyTimeoutMs: int(raw, 'THIRD_PARTY_TIMEOUT_MS'),
    host: str(raw, 'HOST'),
    port: int(raw, 'PORT'),
    rateLimitMax: int(raw, 'RATE_LIMIT_MAX'),
    rateLimitWindowMs: int(raw, 'RATE_LIMIT_WINDOW_MS'),
    signinMaxFailures: int(raw, 'SIGNIN_MAX_FAILURES'),
    signinSubjectMaxFailures: int(raw, 'SIGNIN_SUBJECT_MAX_FAILURES'),
    signinLockoutSeconds: int(raw, 'SIGNIN_LOCKOUT_SECONDS'),
    signinLimitsStore: str(raw, 'SIGNIN_LIMITS_STORE') as 'table' | 'memory',
    signinLimitsTableName: str(raw, 'SIGNIN_LIMITS_TABLE_NAME'),
    trustProxy: list(str(raw, 'TRUST_PROXY')),
    overload: {
      maxEventLoopDelayMs: int(raw, 'PRESSURE_MAX_EVENT_LOOP_DELAY_MS'),
      maxHeapUsedPercent: raw.PRESSURE_MAX_HEAP_USED_PERCENT as number,
      maxEventLoopUtilization: raw.PRESSURE_MAX_EVENT_LOOP_UTILIZATION as number,
      sampleIntervalMs: int(raw, 'PRESSURE_SAMPLE_INTERVAL_MS'),
      retryAfterSeconds: int(raw, 'OVERLOAD_RETRY_AFTER_SECONDS'),
      maxInFlight: int(raw, 'OUTGOING_MAX_IN_FLIGHT'),
      maxWaiting: int(raw, 'OUTGOING_MAX_WAITING'),
      maxWaitMs: int(raw, 'OUTGOING_MAX_WAIT_MS')
    },
    callerAuth: callerAuthConfig(raw)
  }
}

function codeHashConfig (raw: Raw): CodeHashConfig {
  return { secretName: str(raw, 'CODE_HASH_SECRET_NAME'), refreshSeconds: int(raw, 'CODE_HASH_KEY_REFRESH_SECONDS') }
}

function callerAuthConfig (raw: Raw): CallerAuthConfig {
  if (str(raw, 'AUTH_MODE') === 'none') return { mode: 'none' }
  const issuer = optional(raw, 'AUTH_ISSUER')
  const audiences = list(optional(raw, 'AUTH_AUDIENCE') ?? '')
  const problems: { variable: string, problem: string }[] = []
  const why = 'with AUTH_MODE=entra (the default); set AUTH_MODE=none to leave getcode and sign-in open'
  if (issuer === undefined) problems.push({ variable: 'AUTH_ISSUER', problem: `is required ${why}` })
  if (audiences.length === 0) problems.push({ variable: 'AUTH_AUDIENCE', problem: `is required ${why}` })
  if (issuer === undefined || problems.length > 0) throw new ConfigError(problems)
  const caFile = optional(raw, 'AUTH_CA_FILE')
  return {
    mode: 'entra',
    // Entra's v1 issuer ends in a slash, its v2 issuer does not: iss is compared exactly, as given.
    issuer,
    audiences,
    issueRole: str(raw, 'AUTH_ISSUE_ROLE'),
    verifyRole: str(raw, 'AUTH_VERIFY_ROLE'),
    clockSkewSeconds: int(raw, 'AUTH_CLOCK_SKEW_SECONDS'),
    ...(caFile !== undefined ? { caFile } : {})
  }
}

/**
 * A message a crashed worker held comes back after the visibility timeout,
 * and an activate that comes back after its code expired is dropped (a dead
 * code must not become valid). So the timeout must be well inside the code's
 * life, or short-lived codes would never become valid after a crash.
 */
function visibilityTimeout (raw: Raw): number {
  const ttl = int(raw, 'CODE_TTL_SECONDS')
  const set = raw.WORKER_VISIBILITY_TIMEOUT_SECONDS as number | undefined
  if (set === undefined) return Math.min(30, Math.max(1, Math.floor(ttl / 4)))
  if (set > Math.max(1, ttl / 2)) {
    throw new ConfigError([{ variable: 'WORKER_VISIBILITY_TIMEOUT_SECONDS', problem: `must be at most half of CODE_TTL_SECONDS (${ttl}): a message held by a crashed worker comes back only after it, and an activate that comes back after its code expired is dropped` }])
  }
  return set
}

export function loadWorkerConfig (env: Env = process.env): WorkerConfig {
  const raw = readEnv(schemas.worker, env)
  const keyVaultUrl = optional(raw, 'KEY_VAULT_URL')
  const caFile = optional(raw, 'KEY_VAULT_CA_FILE')
  return {
    logLevel: str(raw, 'LOG_LEVEL'),
    ...observabilityConfig(raw),
    ...storageConfig(raw),
    credential: str(raw, 'AZURE_CREDENTIAL') as 'default' | 'dev',
    ...(keyVaultUrl !== undefined ? { codeHashVault: { keyVaultUrl, ...(caFile !== undefined ? { keyVaultCaFile: caFile } : {}), ...codeHashConfig(raw) } } : {}),
    batchSize: int(raw, 'WORKER_BATCH_SIZE'),
    maxInFlight: int(raw, 'WORKER_MAX_IN_FLIGHT'),
    visibilityTimeoutSeconds: visibilityTimeout(raw),
    maxBackoffMs: int(raw, 'WORKER_MAX_BACKOFF_MS'),
    maxDequeueCount: int(raw, 'WORKER_MAX_DEQUEUE_COUNT'),
    shutdownTimeoutMs: int(raw, 'WORKER_SHUTDOWN_TIMEOUT_MS'),
    healthHost: str(raw, 'WORKER_HEALTH_HOST'),
    healthPort: int(raw, 'WORKER_HEALTH_PORT'),
    summaryIntervalSeconds: int(raw, 'WORKER_SUMMARY_INTERVAL_SECONDS')
  }
}

export function loadFunctionsConfig (env: Env = process.env): FunctionsConfig {
  const raw = readEnv(schemas.functions, env)
  const storageSettings = storageConfig(raw)
  if (storageSettings.messageEncoding !== 'base64') {
    // The queue trigger decodes base64 (host.json messageEncoding); text would go to the poison queue unread.
    throw new ConfigError([{ variable: 'QUEUE_MESSAGE_ENCODING', problem: 'must be base64 for the Functions queue trigger (host.json messageEncoding)' }])
  }
  const enabled = str(raw, 'FUNCTIONS_ENABLED') as FunctionsConfig['enabled']
  const keyVaultUrl = optional(raw, 'KEY_VAULT_URL')
  const caFile = optional(raw, 'KEY_VAULT_CA_FILE')
  const base = {
    logLevel: str(raw, 'LOG_LEVEL'),
    ...storageSettings,
    credential: str(raw, 'AZURE_CREDENTIAL') as 'default' | 'dev',
    enabled,
    ...(keyVaultUrl !== undefined ? { codeHashVault: { keyVaultUrl, ...(caFile !== undefined ? { keyVaultCaFile: caFile } : {}), ...codeHashConfig(raw) } } : {})
  }
  if (enabled === 'worker') return base
  const missing = ['KEY_VAULT_URL', 'THIRD_PARTY_API_ENDPOINT'].filter((name) => optional(raw, name) === undefined)
  if (missing.length > 0) throw new ConfigError(missing.map((variable) => ({ variable, problem: `is required (unless FUNCTIONS_ENABLED=worker)` })))
  return {
    ...base,
    api: {
      keyVaultUrl: str(raw, 'KEY_VAULT_URL'),
      ...(caFile !== undefined ? { keyVaultCaFile: caFile } : {}),
      secretName: str(raw, 'THIRD_PARTY_API_SECRET_NAME'),
      codeHash: codeHashConfig(raw),
      thirdPartyEndpoint: str(raw, 'THIRD_PARTY_API_ENDPOINT'),
      thirdPartyTimeoutMs: int(raw, 'THIRD_PARTY_TIMEOUT_MS'),
      signinMaxFailures: int(raw, 'SIGNIN_MAX_FAILURES'),
      signinSubjectMaxFailures: int(raw, 'SIGNIN_SUBJECT_MAX_FAILURES'),
      signinLockoutSeconds: int(raw, 'SIGNIN_LOCKOUT_SECONDS'),
      signinLimitsStore: str(raw, 'SIGNIN_LIMITS_STORE') as 'table' | 'memory',
      signinLimitsTableName: str(raw, 'SIGNIN_LIMITS_TABLE_NAME'),
      callerAuth: callerAuthConfig(raw)
    }
  }
}

export function loadNumberApiConfig (env: Env = process.env): NumberApiConfig {
  const raw = readEnv(schemas.numberApi, env)
  const keys = list(str(raw, 'THIRD_PARTY_API_KEYS'))
  if (keys.length === 0) throw new ConfigError([{ variable: 'THIRD_PARTY_API_KEYS', problem: 'holds no key' }])
  return { logLevel: str(raw, 'LOG_LEVEL'), keys, host: str(raw, 'HOST'), port: int(raw, 'PORT') }
}

export function loadDevVaultConfig (env: Env = process.env): DevVaultConfig {
  const raw = readEnv(schemas.devVault, env)
  const key = optional(raw, 'THIRD_PARTY_API_KEY')
  const hashKey = optional(raw, 'CODE_HASH_KEY')
  const publicUrl = optional(raw, 'DEV_VAULT_URL')
  return {
    logLevel: str(raw, 'LOG_LEVEL'),
    host: str(raw, 'HOST'),
    port: int(raw, 'PORT'),
    ...(publicUrl !== undefined ? { publicUrl } : {}),
    certDir: str(raw, 'DEV_VAULT_CERT_DIR'),
    hostnames: list(str(raw, 'DEV_VAULT_HOSTNAMES')),
    seed: key !== undefined ? { [str(raw, 'THIRD_PARTY_API_SECRET_NAME')]: key } : {},
    codeHashSeed: { name: str(raw, 'CODE_HASH_SECRET_NAME'), ...(hashKey !== undefined ? { value: hashKey } : {}) }
  }
}

/** The README's table of variables, made from the schemas so the two cannot drift. */
export function configTable (): string {
  const rows = new Map<string, { used: string[], defaults: string[], property: JsonSchemaProperty, required: boolean }>()
  const names: Record<keyof typeof schemas, string> = { api: 'api', worker: 'worker', functions: 'functions', numberApi: 'number-api', devVault: 'dev-vault' }
  for (const [service, schema] of Object.entries(schemas) as [keyof typeof schemas, ConfigSchema][]) {
    for (const [name, property] of Object.entries(schema.properties)) {
      const row = rows.get(name) ?? { used: [], defaults: [], property, required: false }
      row.used.push(names[service])
      if (property.default !== undefined) row.defaults.push(`${names[service]}: \`${String(property.default)}\``)
      row.required ||= schema.required.includes(name)
      rows.set(name, row)
    }
  }
  const lines = ['| variable | used by | default | meaning |', '|---|---|---|---|']
  for (const [name, { used, defaults, property, required }] of rows) {
    const same = new Set(defaults.map((d) => d.slice(d.indexOf(':') + 2))).size === 1
    const fallback = defaults.length === 0 ? (required ? '**required**' : '–') : same ? (defaults[0] as string).slice((defaults[0] as string).indexOf(':') + 2) : defaults.join(', ')
    lines.push(`| \`${name}\` | ${used.join(', ')} | ${fallback} | ${property.description.replaceAll('|', '\\|')} |`)
  }
  return lines.join('\n')
}
