/**
 * How the api's parts are put together from config, as plain functions: the
 * Fastify plugins and the Azure Functions app both build their services here,
 * so a rule added to one (a limit, a check) reaches both hostings.
 */
import type { TokenCredential } from '@azure/core-auth'
import { CodeHashKeys, type CodeHasher, type CodeHashKeysOptions } from '@codegate/shared/code-hash'
import type { CodeHashConfig, StorageConfig } from '@codegate/shared/config'
import type { ApiConfig } from './config.js'
import { CLOCK_SKEW_SECONDS } from '@codegate/shared/lifecycle'
import { statusOf } from '@codegate/shared/errors'
import type { CodesTable } from '@codegate/shared/codes-table'
import { createTableClient, type Queues } from '@codegate/shared/clients'
import type { SecretProvider } from '@codegate/shared/secret-provider'
import { CodeIssuer, type CodeIssuerOptions } from './code-issuer.js'
import { MemoryLimitStore, SignInLimits, type LimitRules, type LimitStore } from './limits.js'
import { TableLimitStore } from './limits-table.js'
import { SignInService } from './sign-in.js'
import { ThirdPartyNumbers } from './third-party.js'
import type { IssuerObserver, ThirdPartyObserver } from './metrics.js'

/**
 * The code hash key ring of a process that issues codes and signs them in.
 * Codes hashed under the previous key live a TTL, and other replicas may
 * still issue under it for one refresh interval after a rotation: the
 * previous version is accepted that long (plus clock skew).
 */
export function createCodeHashKeys (client: CodeHashKeysOptions['client'], config: { codeHash: CodeHashConfig, codeTtlSeconds: number }, now: () => Date): CodeHashKeys {
  const { secretName, refreshSeconds } = config.codeHash
  return new CodeHashKeys({ client, secretName, previousGraceSeconds: config.codeTtlSeconds + refreshSeconds + CLOCK_SKEW_SECONDS, now })
}

/**
 * The key ring getcode and sign-in hash with: the loaded one, or, while none
 * is loaded yet, a vault read now (single flight), as getcode does for the
 * third-party key. Throws CodeHashKeyError (a 503) when the vault fails.
 */
export function currentHasher (keys: Pick<CodeHashKeys, 'loaded' | 'hasher' | 'load'>): () => Promise<CodeHasher> {
  return async () => keys.loaded ? keys.hasher : await keys.load()
}

/**
 * Reads the key ring again every CODE_HASH_KEY_REFRESH_SECONDS once it is
 * loaded, so a rotation reaches every process without a restart; a failed
 * read keeps the loaded ring and is logged. Returns the stop.
 */
export function refreshCodeHashKeys (keys: Pick<CodeHashKeys, 'loaded' | 'load'>, refreshSeconds: number, log: { warn: (obj: object, msg: string) => void }, secretName: string): () => void {
  const timer = setInterval(() => {
    if (!keys.loaded) return // the first load is still someone else's to make
    keys.load().catch((err: unknown) => {
      log.warn({ err, event: 'code-hash-key.refresh.failed', secretName }, 'could not read the code hash key again; the loaded one stays in use')
    })
  }, refreshSeconds * 1000)
  timer.unref()
  return () => { clearInterval(timer) }
}

export interface IssuerParts {
  config: Pick<ApiConfig, 'thirdPartyEndpoint' | 'thirdPartyTimeoutMs' | 'codeTtlSeconds' | 'messageEncoding'>
  secrets: SecretProvider
  /** The current code hash key (currentHasher); throws (a 503) while it cannot be had. */
  hasher: () => Promise<CodeHasher>
  queues: Queues
  ensureStorage: () => Promise<void>
  now: () => Date
  /** Bounds the codes being issued at once (the api's outgoing bulkhead); none in Functions, whose host bounds concurrency. */
  limit?: CodeIssuerOptions['limit']
  /** Metrics of the third-party call and of the issue (the api's /metrics); none in Functions. */
  observe?: { thirdParty?: ThirdPartyObserver, issuer?: IssuerObserver }
}

export function createCodeIssuer ({ config, secrets, hasher, queues, ensureStorage, now, limit, observe }: IssuerParts): CodeIssuer {
  const numbers = new ThirdPartyNumbers({ endpoint: config.thirdPartyEndpoint, timeoutMs: config.thirdPartyTimeoutMs, keys: secrets, ...(observe?.thirdParty !== undefined ? { observe: observe.thirdParty } : {}) })
  return new CodeIssuer({ numbers, hasher, shards: queues.shards, ensureQueue: ensureStorage, ttlSeconds: config.codeTtlSeconds, encoding: config.messageEncoding, now, ...(limit !== undefined ? { limit } : {}), ...(observe?.issuer !== undefined ? { observe: observe.issuer } : {}) })
}

export interface SignInParts {
  config: StorageConfig & Pick<ApiConfig, 'signinMaxFailures' | 'signinSubjectMaxFailures' | 'signinLockoutSeconds' | 'signinLimitsStore' | 'signinLimitsTableName'>
  /** For the limits table with STORAGE_QUEUE_URL (Entra ID). */
  credential?: TokenCredential
  codesTable: CodesTable
  /** The code hash key ring (currentHasher): a code is looked up under the current and the previous key. */
  hasher: () => Promise<CodeHasher>
  now: () => Date
}

export interface SignInSetup {
  signIn: SignInService
  limits: SignInLimits
  /** The limits table (SIGNIN_LIMITS_STORE=table), for the host to prepare and sweep; absent with memory. */
  limitsTable?: TableLimitStore
}

/**
 * The sign-in service with its limits (limits.ts): in the limits table, which
 * every replica and both hostings share, or with SIGNIN_LIMITS_STORE=memory
 * in this process only.
 */
export function createSignInService ({ config, credential, codesTable, hasher, now }: SignInParts): SignInSetup {
  const rules: LimitRules = {
    maxFailures: config.signinMaxFailures,
    subjectMaxFailures: config.signinSubjectMaxFailures,
    lockoutSeconds: config.signinLockoutSeconds,
    // Longer than a sign-in can take (its deadline, below).
    holdMs: 2 * config.storageTimeoutMs + 1000
  }
  let store: LimitStore
  let limitsTable: TableLimitStore | undefined
  if (config.signinLimitsStore === 'memory') {
    store = new MemoryLimitStore(rules, now)
  } else {
    limitsTable = new TableLimitStore(createTableClient(config, credential, config.signinLimitsTableName), rules, now)
    store = limitsTable
  }
  const limits = new SignInLimits(store, rules, now)
  // Each table call is bounded by STORAGE_TIMEOUT_MS (so a hung table is a 503
  // after about that long); the whole sign-in, up to five calls, by twice it.
  const signIn = new SignInService({ table: codesTable, hasher, limits, now, timeoutMs: 2 * config.storageTimeoutMs })
  return { signIn, limits, ...(limitsTable !== undefined ? { limitsTable } : {}) }
}


/**
 * Creates the queues and the table if they are missing, once: instant after
 * the first success, retried on the next call after a failure (a storage
 * outage at start does not keep them missing after it ends).
 */
export function storageEnsurer (queues: Queues, codesTable: CodesTable, log: { info: (obj: object, msg: string) => void }): () => Promise<void> {
  let created = false
  let pending: Promise<void> | undefined
  async function create (): Promise<void> {
    try {
      await Promise.all([...queues.shards.map(async (q) => await q.createIfNotExists()), queues.poison.createIfNotExists(), codesTable.ensureTable()])
    } catch (err) {
      // An identity with data roles only (Queue Data Message Sender) may not create
      // queues: then infrastructure made them, and sending will say if it did not.
      if (statusOf(err) !== 403) throw err
      log.info({ err }, 'not allowed to create queues or table; assuming they exist')
    }
    created = true
  }
  return async function ensureStorage (): Promise<void> {
    if (created) return
    pending ??= create().finally(() => { pending = undefined })
    await pending
  }
}
