/**
 * The api's variables: the shared ones it reads, and its own (listening,
 * third-party call, rate limits, sign-in lockout, load shedding). Loaded once
 * in main.ts from process.env; everything else receives the ApiConfig value.
 */
import {
  callerAuthConfig, codeHashConfig, fragments, int, list, observabilityConfig, optional, readEnv, storageProcessConfig, str,
  type CallerAuthConfig, type CodeHashConfig, type ConfigSchema, type CredentialConfig, type Env, type LogConfig,
  type ObservabilityConfig, type Properties, type Raw, type StorageConfig, type VaultConfig
} from '@codegate/shared/config'

const { log, observability, storage, credential, vault, codeHash, callerAuth } = fragments

/** The api's own variables; the Functions app's HTTP triggers read some of them too. */
export const apiProperties: Properties = {
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

/** Load shedding (docs/benchmarks.md, "Overload", has the measurements behind the defaults). */
const overload: Properties = {
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: { type: 'integer', minimum: 0, default: 1000, description: 'Mean event-loop delay over one sample above which getcode and signin answer 503 overloaded and /readyz 503: a backstop for a starved process (the outgoing bound does the steady shedding); 0: not checked' },
  PRESSURE_MAX_HEAP_USED_PERCENT: { type: 'number', minimum: 0, maximum: 100, default: 90, description: 'V8 heap in use, in percent of the heap limit (--max-old-space-size), above which getcode and signin answer 503 overloaded and /readyz 503; 0: not checked' },
  PRESSURE_MAX_EVENT_LOOP_UTILIZATION: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'Share of one sample the event loop was busy (0..1) above which getcode and signin answer 503 overloaded and /readyz 503; 0: not checked' },
  PRESSURE_SAMPLE_INTERVAL_MS: { type: 'integer', minimum: 10, default: 500, description: 'How often event-loop delay, utilization and heap are sampled: how quickly shedding starts and stops' },
  OVERLOAD_RETRY_AFTER_SECONDS: { type: 'integer', minimum: 1, default: 2, description: 'Retry-After of every 503 overloaded answer' },
  OUTGOING_MAX_IN_FLIGHT: { type: 'integer', minimum: 1, default: 64, description: 'Codes being issued at once, i.e. third-party calls and queue sends in flight' },
  OUTGOING_MAX_WAITING: { type: 'integer', minimum: 0, default: 64, description: 'getcode requests waiting for one of OUTGOING_MAX_IN_FLIGHT; one more answers 503 overloaded at once' },
  OUTGOING_MAX_WAIT_MS: { type: 'integer', minimum: 0, default: 250, description: 'How long a getcode waits for one of OUTGOING_MAX_IN_FLIGHT before it answers 503 overloaded; 0: no limit' }
}

export const schema: ConfigSchema = {
  properties: { ...log, ...observability, ...storage, ...credential, ...vault, ...codeHash, ...apiProperties, ...overload, ...callerAuth },
  required: ['KEY_VAULT_URL', 'THIRD_PARTY_API_ENDPOINT']
}

/** What getcode and sign-in need wherever they run: in the api, and in the Functions app's HTTP triggers. */
export interface OperationsConfig extends VaultConfig {
  codeHash: CodeHashConfig
  /** Who may call them (caller-auth.ts). */
  callerAuth: CallerAuthConfig
  thirdPartyEndpoint: string
  thirdPartyTimeoutMs: number
  /** Failed sign-ins per client address before it is locked. */
  signinMaxFailures: number
  /** Failed sign-ins per subject and client address before that address is locked for that subject. */
  signinSubjectMaxFailures: number
  signinLockoutSeconds: number
  signinLimitsStore: 'table' | 'memory'
  signinLimitsTableName: string
}

export interface ApiConfig extends LogConfig, ObservabilityConfig, StorageConfig, CredentialConfig, OperationsConfig {
  /** Fastify's per-request log lines (probes are never logged). */
  logRequests: boolean
  host: string
  port: number
  rateLimitMax: number
  rateLimitWindowMs: number
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

/** The settings of OperationsConfig from validated variables (KEY_VAULT_URL and THIRD_PARTY_API_ENDPOINT set). */
export function operationsConfig (raw: Raw): OperationsConfig {
  const caFile = optional(raw, 'KEY_VAULT_CA_FILE')
  return {
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

export function loadConfig (env: Env): ApiConfig {
  const raw = readEnv(schema, env)
  return {
    ...storageProcessConfig(raw),
    ...observabilityConfig(raw),
    ...operationsConfig(raw),
    logRequests: raw.LOG_REQUESTS as boolean,
    host: str(raw, 'HOST'),
    port: int(raw, 'PORT'),
    rateLimitMax: int(raw, 'RATE_LIMIT_MAX'),
    rateLimitWindowMs: int(raw, 'RATE_LIMIT_WINDOW_MS'),
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
    }
  }
}
