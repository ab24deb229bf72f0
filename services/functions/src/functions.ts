/**
 * codegate as an Azure Functions app (Node v4 programming model): getcode
 * and sign-in as HTTP triggers, the worker as a queue trigger. Each handler
 * is a thin adapter: it reads what the host hands it and calls the same
 * code the Fastify api (`@codegate/api/operations`, `compose`) and the
 * container worker (`@codegate/shared/lifecycle`) call.
 *
 * `registerFunctions(app, config)` is what index.ts runs in the host; tests
 * pass a recorder for `app` and invoke the handlers it was given.
 */
import type { TokenCredential } from '@azure/core-auth'
import type { HttpFunctionOptions, HttpRequest, HttpResponseInit, InvocationContext, StorageQueueFunctionOptions } from '@azure/functions'
import { createCodeIssuer, createSignInService, storageEnsurer } from '@codegate/api/compose'
import type { CodeIssuer } from '@codegate/api/code-issuer'
import { errorAnswer, getCodeAnswer, signInAnswer } from '@codegate/api/operations'
import type { SignInService } from '@codegate/api/sign-in'
import { createQueues, createSecretClient, createTableClient, queueNameOf, type Queues } from '@codegate/shared/clients'
import { CodesTable } from '@codegate/shared/codes-table'
import type { FunctionsApiConfig, FunctionsConfig } from '@codegate/shared/config'
import { createCredential } from '@codegate/shared/credentials'
import { handleMessage, type LifecycleDeps, type LifecycleRules, type Outcome, type ReceivedMessage } from '@codegate/shared/lifecycle'
import { loggerOptions } from '@codegate/shared/logger'
import { SecretProvider } from '@codegate/shared/secret-provider'
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

export interface CodegateFunctions {
  getcode: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>
  signin: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>
  /** The queue trigger; throws when the message must be retried (the host then retries and poisons). */
  worker: (entry: unknown, context: InvocationContext) => Promise<Outcome>
  queueName: string
  queues: Queues
  codesTable: CodesTable
  log: Logger
}

interface ApiParts {
  issuer: CodeIssuer
  signIn: SignInService
}

/** getcode's and sign-in's services, built as the Fastify api builds them. */
function apiParts (config: FunctionsConfig, api: FunctionsApiConfig, parts: { credential: TokenCredential, queues: Queues, codesTable: CodesTable, ensureStorage: () => Promise<void>, now: () => Date }): ApiParts {
  const { credential, queues, codesTable, ensureStorage, now } = parts
  const secrets = new SecretProvider(createSecretClient(api, credential), api.secretName)
  return {
    issuer: createCodeIssuer({ config: { ...api, codeTtlSeconds: config.codeTtlSeconds, messageEncoding: config.messageEncoding }, secrets, queues, ensureStorage, now }),
    signIn: createSignInService({ config: { ...config, ...api }, ...(config.auth.kind === 'url' ? { credential } : {}), codesTable, now }).signIn
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
  const api = config.api !== undefined ? apiParts(config, config.api, { credential, queues, codesTable, ensureStorage, now }) : undefined
  const apiOf = (name: string): ApiParts => {
    if (api === undefined) throw new Error(`${name} is not enabled: FUNCTIONS_ENABLED=${config.enabled}`)
    return api
  }
  const rules: LifecycleRules = {
    encoding: config.messageEncoding,
    codeTtlSeconds: config.codeTtlSeconds,
    maxDequeueCount: host.maxDequeueCount,
    maxRetryDelaySeconds: host.visibilityTimeoutSeconds,
    nextMessage: 'send'
  }

  const invocationLog = (context: InvocationContext): Logger => log.child({ invocationId: context.invocationId, function: context.functionName })

  return {
    queueName: queueNameOf(config),
    queues,
    codesTable,
    log,

    async getcode (request, context) {
      const ilog = invocationLog(context)
      try {
        return toResponse(await getCodeAnswer(apiOf('getcode').issuer, getCodeQuery(request).subject, ilog))
      } catch (err) {
        return toResponse(errorAnswer(err, ilog))
      }
    },

    async signin (request, context) {
      const ilog = invocationLog(context)
      try {
        const { code, subject } = await signInBody(request)
        return toResponse(await signInAnswer(apiOf('signin').signIn, { code, subject, ip: clientAddress(request) }, ilog))
      } catch (err) {
        return toResponse(errorAnswer(err, ilog))
      }
    },

    async worker (entry, context) {
      const received = receivedMessage(entry, context)
      await ensureStorage()
      const deps: LifecycleDeps = {
        table: codesTable,
        now,
        log: invocationLog(context),
        rules,
        // A new message, hidden until its phase is due; the host deletes the trigger message.
        requeue: async (text, visibilitySeconds) => {
          await queues.queue.sendMessage(text, { visibilityTimeout: visibilitySeconds, messageTimeToLive: -1 })
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
  }
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
    // anonymous: the api has no key of its own (as the container api); routes as the api's, under host.json's routePrefix "api".
    app.http('getcode', { methods: ['GET'], route: 'v1/getcode', authLevel: 'anonymous', handler: fns.getcode })
    app.http('signin', { methods: ['POST'], route: 'v1/signin', authLevel: 'anonymous', handler: fns.signin })
  }
  if (config.enabled === 'api') return fns
  app.storageQueue('worker', {
    queueName: fns.queueName,
    connection: TRIGGER_CONNECTION,
    handler: async (entry, context) => { await fns.worker(entry, context) }
  })
  return fns
}
