/**
 * How the api's parts are put together from config, as plain functions: the
 * Fastify plugins and the Azure Functions app both build their services here,
 * so a rule added to one (a limit, a check) reaches both hostings.
 */
import type { TokenCredential } from '@azure/core-auth'
import type { ApiConfig, StorageConfig } from '@codegate/shared/config'
import type { CodesTable } from '@codegate/shared/codes-table'
import { createTableClient, type Queues } from '@codegate/shared/clients'
import type { SecretProvider } from '@codegate/shared/secret-provider'
import { CodeIssuer, type CodeIssuerOptions } from './code-issuer.js'
import { MemoryLimitStore, SignInLimits, type LimitRules, type LimitStore } from './limits.js'
import { TableLimitStore } from './limits-table.js'
import { SignInService } from './sign-in.js'
import { ThirdPartyNumbers } from './third-party.js'

export interface IssuerParts {
  config: Pick<ApiConfig, 'thirdPartyEndpoint' | 'thirdPartyTimeoutMs' | 'codeTtlSeconds' | 'messageEncoding'>
  secrets: SecretProvider
  queues: Queues
  ensureStorage: () => Promise<void>
  now: () => Date
  /** Bounds the codes being issued at once (the api's outgoing bulkhead); none in Functions, whose host bounds concurrency. */
  limit?: CodeIssuerOptions['limit']
}

export function createCodeIssuer ({ config, secrets, queues, ensureStorage, now, limit }: IssuerParts): CodeIssuer {
  const numbers = new ThirdPartyNumbers({ endpoint: config.thirdPartyEndpoint, timeoutMs: config.thirdPartyTimeoutMs, keys: secrets })
  return new CodeIssuer({ numbers, shards: queues.shards, ensureQueue: ensureStorage, ttlSeconds: config.codeTtlSeconds, encoding: config.messageEncoding, now, ...(limit !== undefined ? { limit } : {}) })
}

export interface SignInParts {
  config: StorageConfig & Pick<ApiConfig, 'signinMaxFailures' | 'signinSubjectMaxFailures' | 'signinLockoutSeconds' | 'signinLimitsStore' | 'signinLimitsTableName'>
  /** For the limits table with STORAGE_QUEUE_URL (Entra ID). */
  credential?: TokenCredential
  codesTable: CodesTable
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
export function createSignInService ({ config, credential, codesTable, now }: SignInParts): SignInSetup {
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
  const signIn = new SignInService({ table: codesTable, limits, now, timeoutMs: 2 * config.storageTimeoutMs })
  return { signIn, limits, ...(limitsTable !== undefined ? { limitsTable } : {}) }
}

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number } | null)?.statusCode

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
