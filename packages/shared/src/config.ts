/**
 * What the processes' configurations share: the variables two or more of them
 * read (log level, tracing, storage, credential, vault, code hash key, caller
 * auth) and the one helper that validates a schema against an environment and
 * explains each bad variable. Each process's own schema and loader live beside
 * it (services/<name>/src/config.ts); only entry points pass `process.env` in.
 *
 * The variable names of the original sample app (KEY_VAULT_URL,
 * THIRD_PARTY_API_SECRET_NAME, THIRD_PARTY_API_ENDPOINT, STORAGE_QUEUE_URL) are
 * kept unchanged so existing deployments can switch over.
 */
import envSchema from 'env-schema'
import { ConfigError } from './errors.js'
import { MAX_QUEUE_SHARDS, poisonQueueName, queueNameProblem, shardQueueNames } from './shards.js'

/** An environment: process.env in an entry point, a plain object in a test. */
export type Env = Record<string, string | undefined>

export interface JsonSchemaProperty {
  type: 'string' | 'integer' | 'number' | 'boolean'
  default?: string | number | boolean
  minimum?: number
  maximum?: number
  enum?: string[]
  pattern?: string
  minLength?: number
  description: string
}

export type Properties = Record<string, JsonSchemaProperty>

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
  OTEL_METRIC_EXPORT_INTERVAL: { type: 'integer', minimum: 100, default: 60000, description: 'With tracing on: milliseconds between two metric exports (the OpenTelemetry standard variable; /metrics is scraped, not pushed, and ignores it)' },
  OTEL_METRIC_EXPORT_TIMEOUT: { type: 'integer', minimum: 100, default: 30000, description: 'With tracing on: milliseconds one metric export may take (the OpenTelemetry standard variable); at most OTEL_METRIC_EXPORT_INTERVAL is used' },
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

/** The variables two or more processes read; each process's schema spreads the ones it reads. */
export const fragments = { log, observability, storage, credential, vault, codeHash, callerAuth } satisfies Record<string, Properties>

/** What validation gives: each variable of the schema, typed, defaults filled in. */
export type Raw = Record<string, string | number | boolean | undefined>

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
  /** Milliseconds between metric exports (OTEL_METRIC_EXPORT_INTERVAL); the SDK's 60 s when absent. */
  metricExportIntervalMs?: number
  /** Longest metric export (OTEL_METRIC_EXPORT_TIMEOUT); 30 s when absent. */
  metricExportTimeoutMs?: number
}

export function observabilityConfig (raw: Raw): ObservabilityConfig {
  const otlpEndpoint = optional(raw, 'OTEL_EXPORTER_OTLP_ENDPOINT')
  const azureMonitorConnectionString = optional(raw, 'APPLICATIONINSIGHTS_CONNECTION_STRING')
  return {
    metricsEnabled: raw.METRICS_ENABLED as boolean,
    tracesSampleRatio: raw.TRACES_SAMPLE_RATIO as number,
    metricExportIntervalMs: raw.OTEL_METRIC_EXPORT_INTERVAL as number,
    metricExportTimeoutMs: raw.OTEL_METRIC_EXPORT_TIMEOUT as number,
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


/** The vault of the code hash key alone: what the worker and the Functions app's queue trigger read. */
export type CodeHashVaultConfig = Omit<VaultConfig, 'secretName'> & CodeHashConfig

// Typed reads of what readEnv validated.
export const str = (raw: Raw, name: string): string => raw[name] as string
export const int = (raw: Raw, name: string): number => raw[name] as number
export const optional = (raw: Raw, name: string): string | undefined => raw[name] as string | undefined
export const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter((s) => s !== '')

export function storageConfig (raw: Raw): StorageConfig {
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

export function codeHashConfig (raw: Raw): CodeHashConfig {
  return { secretName: str(raw, 'CODE_HASH_SECRET_NAME'), refreshSeconds: int(raw, 'CODE_HASH_KEY_REFRESH_SECONDS') }
}

export function callerAuthConfig (raw: Raw): CallerAuthConfig {
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

/** What every process that reaches the storage reads: its log level, the storage and the credential. */
export function storageProcessConfig (raw: Raw): LogConfig & StorageConfig & CredentialConfig {
  return { logLevel: str(raw, 'LOG_LEVEL'), ...storageConfig(raw), credential: str(raw, 'AZURE_CREDENTIAL') as CredentialConfig['credential'] }
}

/** KEY_VAULT_URL's vault with the code hash key's settings, when KEY_VAULT_URL is set. */
export function codeHashVaultConfig (raw: Raw): { codeHashVault?: CodeHashVaultConfig } {
  const keyVaultUrl = optional(raw, 'KEY_VAULT_URL')
  const caFile = optional(raw, 'KEY_VAULT_CA_FILE')
  if (keyVaultUrl === undefined) return {}
  return { codeHashVault: { keyVaultUrl, ...(caFile !== undefined ? { keyVaultCaFile: caFile } : {}), ...codeHashConfig(raw) } }
}
