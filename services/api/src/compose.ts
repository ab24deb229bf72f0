/**
 * How the api's parts are put together from config, as plain functions: the
 * Fastify plugins and the Azure Functions app both build their services here,
 * so a rule added to one (a limit, a check) reaches both hostings.
 */
import type { ApiConfig } from '@codegate/shared/config'
import type { CodesTable } from '@codegate/shared/codes-table'
import type { Queues } from '@codegate/shared/clients'
import type { SecretProvider } from '@codegate/shared/secret-provider'
import { CodeIssuer } from './code-issuer.js'
import { Lockout } from './lockout.js'
import { SignInService } from './sign-in.js'
import { ThirdPartyNumbers } from './third-party.js'

export interface IssuerParts {
  config: Pick<ApiConfig, 'thirdPartyEndpoint' | 'thirdPartyTimeoutMs' | 'codeTtlSeconds' | 'messageEncoding'>
  secrets: SecretProvider
  queues: Queues
  ensureStorage: () => Promise<void>
  now: () => Date
}

export function createCodeIssuer ({ config, secrets, queues, ensureStorage, now }: IssuerParts): CodeIssuer {
  const numbers = new ThirdPartyNumbers({ endpoint: config.thirdPartyEndpoint, timeoutMs: config.thirdPartyTimeoutMs, keys: secrets })
  return new CodeIssuer({ numbers, queue: queues.queue, ensureQueue: ensureStorage, ttlSeconds: config.codeTtlSeconds, encoding: config.messageEncoding, now })
}

export interface SignInParts {
  config: Pick<ApiConfig, 'signinMaxFailures' | 'signinLockoutSeconds'>
  codesTable: CodesTable
  now: () => Date
}

export function createSignInService ({ config, codesTable, now }: SignInParts): SignInService {
  const lockout = new Lockout({ maxFailures: config.signinMaxFailures, lockoutSeconds: config.signinLockoutSeconds })
  return new SignInService({ table: codesTable, lockout, now })
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
      await Promise.all([queues.queue.createIfNotExists(), queues.poison.createIfNotExists(), codesTable.ensureTable()])
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
