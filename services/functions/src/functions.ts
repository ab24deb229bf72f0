/**
 * codegate as an Azure Functions app (Node v4 programming model): getcode
 * and sign-in as HTTP triggers, the worker as a queue trigger. Each handler
 * is a thin adapter: it reads what the host hands it and calls the same
 * code the Fastify api (`@codegate/api/caller-auth`, `operations`, `compose`) and the
 * container worker (`@codegate/shared/lifecycle`) call.
 *
 * `registerFunctions(app, config)` is what index.ts runs in the host; tests
 * pass a recorder for `app` and invoke the handlers it was given.
 */
import type { TokenCredential } from '@azure/core-auth'
import type { HttpFunctionOptions, HttpRequest, HttpResponseInit, InvocationContext, StorageQueueFunctionOptions } from '@azure/functions'
import { callerLogFields, createCallerAuth, type CallerAuth, type Permission } from '@codegate/api/caller-auth'
import { createCodeHashKeys, createCodeIssuer, createSignInService, currentHasher, refreshCodeHashKeys, storageEnsurer } from '@codegate/api/compose'
import type { CodeIssuer } from '@codegate/api/code-issuer'
import { errorAnswer, getCodeAnswer, signInAnswer } from '@codegate/api/operations'
import type { SignInService } from '@codegate/api/sign-in'
import { createQueues, createSecretClient, createTableClient, queueNameOf, type Queues } from '@codegate/shared/clients'
import { CodeHashKeys } from '@codegate/shared/code-hash'
import { CodesTable } from '@codegate/shared/codes-table'
import type { FunctionsApiConfig, FunctionsConfig } from './config.js'
import { createCredential } from '@codegate/shared/credentials'
import { handleMessage, type LifecycleDeps, type LifecycleRules, type Outcome, type ReceivedMessage } from '@codegate/shared/lifecycle'
import { loggerOptions } from '@codegate/shared/logger'
import { SecretProvider } from '@codegate/shared/secret-provider'
import { shardQueueName } from '@codegate/shared/shards'
import pino, { type Logger } from 'pino'
import { readQueueHostSettings, type QueueHostSettings } from './host-settings.js'
import { clientAddress, getCodeQuery, signInBody, toResponse } from './http.js'

/** The app setting (prefix) the queue trigger connects with: `CODEGATE_STORAGE` (a connection string) or `CODEGATE_STORAGE__queueServiceUri` and `__credential` (an identity). */
export const TRIGGER_CONNECTION = 'CODEGATE_STORAGE'

/** What of `app` from @azure/functions is used; tests pass a recorder. */
export interface FunctionsHost {
  http: (name: string, options: HttpFunctionOptions) => void
  storageQueue: (name: string, options: StorageQueueFunctionOptions) => void
}

export interface FunctionsOptions {
  credential?: TokenCredential
  now?: () => Date
  /** Where log lines go; stdout (which the host collects) by default. */
  logStream?: { write: (line: string) => void }
  /** host.json's queue settings; read from the app's host.json by default. */
  hostSettings?: QueueHostSettings
}

type QueueClient = Queues['queue']

/** The queue trigger of one shard; throws when the message must be retried (the host then retries and poisons). */
export type QueueTriggerHandler = (entry: unknown, context: InvocationContext) => Promise<Outcome>

/** One queue trigger: its function name, the shard queue it reads, its handler. */
export interface ShardTrigger {
  name: string
  queueName: string
  queue: QueueClient
  handler: QueueTriggerHandler
}

export interface CodegateFunctions {
  getcode: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>
  signin: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>
  /** The queue trigger of the base queue (shard 0). */
  worker: QueueTriggerHandler
  /** One queue trigger per QUEUE_SHARDS shard, shard 0 (`worker`) first. */
  triggers: ShardTrigger[]
  /** The base queue's name. */
  queueName: string
  queues: Queues
  codesTable: CodesTable
  log: Logger
  /** The code hash key ring (CODE_HASH_SECRET_NAME); absent only for a worker without KEY_VAULT_URL. */
  codeHashKeys?: CodeHashKeys
  /**
   * Reads the token issuer's keys and the code hash key now (logs the
   * outcome), so the first caller or message does not wait; never throws.
   */
  warmUp: () => Promise<void>
  /** Stops reading the code hash key again every CODE_HASH_KEY_REFRESH_SECONDS. */
  close: () => void
}

interface ApiParts {
  issuer: CodeIssuer
  signIn: SignInService
  auth: CallerAuth
  codeHashKeys: CodeHashKeys
}

/**
 * The queue trigger function of shard `index`: shard 0 keeps the name
 * `worker`; shard i reads `<base>-i` and is `worker-i` (function names allow
 * letters, digits, `-` and `_`).
 */
export function triggerName (index: number): string {
  return index === 0 ? 'worker' : `worker-${index}`
}

/** getcode's and sign-in's services, built as the Fastify api builds them. */
function apiParts (config: FunctionsConfig, api: FunctionsApiConfig, parts: { credential: TokenCredential, queues: Queues, codesTable: CodesTable, ensureStorage: () => Promise<void>, now: () => Date, log: Logger }): ApiParts {
  const { credential, queues, codesTable, ensureStorage, now, log } = parts
  const client = createSecretClient(api, credential)
  const secrets = new SecretProvider(client, api.secretName)
  const codeHashKeys = createCodeHashKeys(client, { codeHash: api.codeHash, codeTtlSeconds: config.codeTtlSeconds }, now)
  const hasher = currentHasher(codeHashKeys)
  return {
    issuer: createCodeIssuer({ config: { ...api, codeTtlSeconds: config.codeTtlSeconds, messageEncoding: config.messageEncoding }, secrets, hasher, queues, ensureStorage, now }),
    signIn: createSignInService({ config: { ...config, ...api }, ...(config.auth.kind === 'url' ? { credential } : {}), codesTable, hasher, now }).signIn,
    // Made once per host start, so AUTH_MODE=none warns at every start, as the api does.
    auth: createCallerAuth(api.callerAuth, log),
    codeHashKeys
  }
}

export function createFunctions (config: FunctionsConfig, options: FunctionsOptions = {}): CodegateFunctions {
  const host = options.hostSettings ?? readQueueHostSettings()
  const now = options.now ?? (() => new Date())
  const log = options.logStream !== undefined
    ? pino(loggerOptions('functions', config.logLevel), options.logStream)
    : pino(loggerOptions('functions', config.logLevel))
  const credential = options.credential ?? createCredential(config)
  const queues = createQueues(config, config.auth.kind === 'url' ? credential : undefined)
  const codesTable = new CodesTable(createTableClient(config, config.auth.kind === 'url' ? credential : undefined))
  const ensureStorage = storageEnsurer(queues, codesTable, log)
  const api = config.api !== undefined ? apiParts(config, config.api, { credential, queues, codesTable, ensureStorage, now, log }) : undefined
  const codeHashKeys = api?.codeHashKeys ?? workerCodeHashKeys(config, credential, now)
  if (codeHashKeys === undefined && config.enabled !== 'api') {
    log.warn({ event: 'code-hash-key.none' }, 'no KEY_VAULT_URL: messages with a code in clear (the original sample\'s) go to the poison queue')
  }
  const refreshSeconds = config.api?.codeHash.refreshSeconds ?? config.codeHashVault?.refreshSeconds
  const stopRefresh = codeHashKeys !== undefined && refreshSeconds !== undefined
    ? refreshCodeHashKeys(codeHashKeys, refreshSeconds, log, codeHashKeys.name)
    : () => {}
  const apiOf = (name: string): ApiParts => {
    if (api === undefined) throw new Error(`${name} is not enabled: FUNCTIONS_ENABLED=${config.enabled}`)
    return api
  }
  const rules: LifecycleRules = {
    encoding: config.messageEncoding,
    codeTtlSeconds: config.codeTtlSeconds,
    maxDequeueCount: host.maxDequeueCount,
    maxRetryDelaySeconds: host.visibilityTimeoutSeconds,
    nextMessage: 'send',
    ...(codeHashKeys !== undefined ? { hashCode: (code: string) => codeHashKeys.hasher.hash(code) } : {})
  }

  const invocationLog = (context: InvocationContext): Logger => log.child({ invocationId: context.invocationId, function: context.functionName })

  /**
   * The caller, as the Fastify api's onRequest hook checks it: before the
   * query or body is read, so an unauthenticated caller learns nothing of
   * the api's validation and costs no body parsing.
   */
  async function authenticated (parts: ApiParts, request: HttpRequest, permission: Permission, ilog: Logger): Promise<Logger> {
    let named = ilog
    await parts.auth.authenticate(request.headers.get('authorization') ?? undefined, permission, ilog, (caller) => {
      named = ilog.child(callerLogFields(caller))
    })
    return named
  }

  /** The trigger of one shard: what handling a message may do is send to that shard (the expire) or to the one poison queue. */
  function shardTrigger (queue: QueueClient, index: number): ShardTrigger {
    const handler: QueueTriggerHandler = async (entry, context) => {
      const received = receivedMessage(entry, context)
      // The container worker reads the key before its first message and will not start without it; a
      // trigger has no start, so it reads it before its first message: thrown, the host retries the message.
      if (codeHashKeys !== undefined && !codeHashKeys.loaded) await codeHashKeys.load()
      await ensureStorage()
      const deps: LifecycleDeps = {
        table: codesTable,
        now,
        log: invocationLog(context),
        rules,
        // A new message in the same shard, hidden until its phase is due; the host deletes the trigger message.
        requeue: async (text, visibilitySeconds) => {
          await queue.sendMessage(text, { visibilityTimeout: visibilitySeconds, messageTimeToLive: -1 })
          return true
        },
        remove: async () => true,
        poison: async (text) => { await queues.poison.sendMessage(text, { messageTimeToLive: -1 }) }
      }
      const outcome = await handleMessage(received, deps)
      // Thrown, the message stays: the host shows it again after visibilityTimeout and poisons it after maxDequeueCount.
      if (outcome.kind === 'failed') throw outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error))
      return outcome
    }
    return { name: triggerName(index), queueName: shardQueueName(queueNameOf(config), index), queue, handler }
  }
  const triggers = queues.shards.map(shardTrigger)

  return {
    queueName: queueNameOf(config),
    queues,
    codesTable,
    log,
    triggers,
    worker: (triggers[0] as ShardTrigger).handler,
    ...(codeHashKeys !== undefined ? { codeHashKeys } : {}),

    async warmUp () {
      await Promise.all([
        api?.auth.warmUp(log),
        (async () => {
          if (codeHashKeys === undefined || codeHashKeys.loaded) return
          try {
            await codeHashKeys.load()
            log.info({ event: 'key.loaded', secretName: codeHashKeys.name }, 'code hash key loaded from the vault')
          } catch (err) {
            log.warn({ err, event: 'key.unavailable', secretName: codeHashKeys.name }, 'could not read the code hash key; getcode, sign-in and the queue trigger read it again when they need it')
          }
        })()
      ])
    },

    close: stopRefresh,

    async getcode (request, context) {
      let ilog = invocationLog(context)
      try {
        const parts = apiOf('getcode')
        ilog = await authenticated(parts, request, 'issue', ilog)
        return toResponse(await getCodeAnswer(parts.issuer, getCodeQuery(request).subject, ilog))
      } catch (err) {
        return toResponse(errorAnswer(err, ilog))
      }
    },

    async signin (request, context) {
      let ilog = invocationLog(context)
      try {
        const parts = apiOf('signin')
        ilog = await authenticated(parts, request, 'verify', ilog)
        const { code, subject } = await signInBody(request)
        return toResponse(await signInAnswer(parts.signIn, { code, subject, ip: clientAddress(request) }, ilog))
      } catch (err) {
        return toResponse(errorAnswer(err, ilog))
      }
    }
  }
}

/**
 * The worker's code hash key ring when only the worker runs: as the container
 * worker's, the current key only (the previous one matters at sign-in).
 */
function workerCodeHashKeys (config: FunctionsConfig, credential: TokenCredential, now: () => Date): CodeHashKeys | undefined {
  const vault = config.codeHashVault
  if (vault === undefined) return undefined
  return new CodeHashKeys({ client: createSecretClient({ ...vault, secretName: vault.secretName }, credential), secretName: vault.secretName, previousGraceSeconds: 0, now })
}

/**
 * The trigger message as the lifecycle reads it. The host hands over the
 * decoded text, parsed if it is JSON (so it is written back as JSON text,
 * which the codec reads the same), and its id and dequeue count in the
 * trigger metadata.
 */
export function receivedMessage (entry: unknown, context: InvocationContext): ReceivedMessage {
  const meta = context.triggerMetadata ?? {}
  const dequeueCount = Number(meta.dequeueCount)
  const insertedOn = new Date(String(meta.insertionTime))
  return {
    messageId: String(meta.id ?? context.invocationId),
    dequeueCount: Number.isSafeInteger(dequeueCount) && dequeueCount > 0 ? dequeueCount : 1,
    insertedOn: Number.isNaN(insertedOn.getTime()) ? new Date(0) : insertedOn,
    messageText: typeof entry === 'string' ? entry : Buffer.isBuffer(entry) ? entry.toString('utf8') : JSON.stringify(entry)
  }
}

/** Registers the functions FUNCTIONS_ENABLED names with the host; returns them all. */
export function registerFunctions (app: FunctionsHost, config: FunctionsConfig, options: FunctionsOptions = {}): CodegateFunctions {
  const fns = createFunctions(config, options)
  if (config.enabled !== 'worker') {
    // anonymous to the host: callers are authenticated by their bearer token in the handler, as at the
    // container api (a function key is a shared secret naming nobody). Routes as the api's, under routePrefix "api".
    app.http('getcode', { methods: ['GET'], route: 'v1/getcode', authLevel: 'anonymous', handler: fns.getcode })
    app.http('signin', { methods: ['POST'], route: 'v1/signin', authLevel: 'anonymous', handler: fns.signin })
  }
  if (config.enabled === 'api') return fns
  // A binding names one queue and is fixed at registration; the app settings are read
  // before it, so QUEUE_SHARDS triggers each read one shard, as every container worker reads them all.
  for (const trigger of fns.triggers) {
    app.storageQueue(trigger.name, {
      queueName: trigger.queueName,
      connection: TRIGGER_CONNECTION,
      handler: async (entry, context) => { await trigger.handler(entry, context) }
    })
  }
  return fns
}
