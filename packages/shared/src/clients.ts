/**
 * Factories for the Azure SDK clients. Nothing else in codegate constructs a
 * client, so tests and processes differ only in the config they pass.
 */
import { readFileSync } from 'node:fs'
import type { TokenCredential } from '@azure/core-auth'
import { TableClient, type TableServiceClientOptions } from '@azure/data-tables'
import { SecretClient } from '@azure/keyvault-secrets'
import { newPipeline, QueueClient, QueueServiceClient, type Pipeline, type RequestPolicyFactory, type StoragePipelineOptions } from '@azure/storage-queue'
import type { StorageConfig, VaultConfig } from './config.js'
import { poisonQueueName, shardQueueName } from './shards.js'

export { poisonQueueName }

export interface Queues {
  /** The base queue: shard 0. */
  queue: QueueClient
  poison: QueueClient
  /** Every shard, `queue` first (QUEUE_SHARDS of them; [queue] when there is one). */
  shards: QueueClient[]
}

/**
 * Few, short retries: a request handler answers 503 within a bound instead of
 * hanging in the SDK's default back-off, and the worker has its own.
 */
function retryOptions (config: StorageConfig): StoragePipelineOptions['retryOptions'] {
  return { maxTries: 2, tryTimeoutInMs: config.storageTimeoutMs, retryDelayInMs: 100, maxRetryDelayInMs: 500 }
}

/** The queue's name: STORAGE_QUEUE_NAME with a connection string, else the last segment of STORAGE_QUEUE_URL. */
export function queueNameOf (config: StorageConfig): string {
  const { auth } = config
  if (auth.kind === 'connection-string') return auth.queueName
  return new URL(auth.queueUrl).pathname.split('/').filter((s) => s !== '').pop() ?? ''
}

/**
 * storage-queue's tryTimeoutInMs only sets the server-side `timeout` query
 * parameter (whole seconds): an endpoint that accepts the connection and never
 * answers would hold the call for ever. This gives each try a client-side deadline.
 */
function tryDeadline (ms: number): RequestPolicyFactory {
  return {
    create: (next) => ({
      sendRequest: async (request) => {
        request.timeout = ms
        return await next.sendRequest(request)
      }
    })
  }
}

type QueueCredential = Parameters<typeof newPipeline>[0]

function queuePipeline (credential: QueueCredential, config: StorageConfig): Pipeline {
  const pipeline = newPipeline(credential, { retryOptions: retryOptions(config) })
  pipeline.factories.push(tryDeadline(config.storageTimeoutMs))
  return pipeline
}

export function createQueues (config: StorageConfig, credential?: TokenCredential): Queues {
  const { auth } = config
  const count = config.queueShards ?? 1
  let make: (name: (base: string) => string) => QueueClient
  if (auth.kind === 'connection-string') {
    // The connection string is parsed by the SDK; the clients get a pipeline of our own.
    const service = QueueServiceClient.fromConnectionString(auth.connectionString)
    // `credential` is public at runtime and was in the typings before 12.2x; the shared key it holds is what we need.
    const pipeline = queuePipeline((service as unknown as { credential: QueueCredential }).credential, config)
    make = (name) => new QueueClient(service.getQueueClient(name(auth.queueName)).url, pipeline)
  } else {
    if (credential === undefined) throw new Error('a credential is required for STORAGE_QUEUE_URL')
    const url = new URL(auth.queueUrl)
    const base = url.pathname.replace(/\/?$/, '')
    const pipeline = queuePipeline(credential, config)
    make = (name) => {
      const baseName = base.slice(base.lastIndexOf('/') + 1)
      // Shard 0 is the configured URL itself, untouched.
      if (name(baseName) === baseName) return new QueueClient(url.toString(), pipeline)
      const derived = new URL(url)
      // The name is the last path segment (Azurite puts the account before it).
      derived.pathname = base.slice(0, base.lastIndexOf('/') + 1) + name(baseName)
      return new QueueClient(derived.toString(), pipeline)
    }
  }
  const shards = Array.from({ length: count }, (_, i) => make((base) => shardQueueName(base, i)))
  return { queue: shards[0] as QueueClient, poison: make(poisonQueueName), shards }
}

type PipelinePolicy = NonNullable<TableServiceClientOptions['additionalPolicies']>[number]['policy']

/**
 * Bounds a whole table call, retries included, by `timeoutMs`: the table SDK
 * has no per-try timeout of its own (unlike the queue's tryTimeoutInMs), so
 * without this a table endpoint that accepts and never answers holds a
 * sign-in, a start-up check or a worker's message for ever. The caller's own
 * abort signal still applies.
 */
export function timeoutPolicy (timeoutMs: number): PipelinePolicy {
  return {
    name: 'codegateTimeout',
    sendRequest: async (request, next) => {
      const timeout = AbortSignal.timeout(timeoutMs)
      // The SDK's AbortSignalLike is in practice Node's AbortSignal (it is what callers pass).
      const own = request.abortSignal as AbortSignal | undefined
      request.abortSignal = own !== undefined ? AbortSignal.any([own, timeout]) : timeout
      return await next(request)
    }
  }
}

/** A client of `tableName` (default: the codes table) in the configured account, every call bounded by STORAGE_TIMEOUT_MS. */
export function createTableClient (config: StorageConfig, credential?: TokenCredential, tableName: string = config.tableName): TableClient {
  const { auth } = config
  const options = {
    retryOptions: { maxRetries: 1, retryDelayInMs: 100, maxRetryDelayInMs: 500 },
    additionalPolicies: [{ policy: timeoutPolicy(config.storageTimeoutMs), position: 'perCall' as const }],
    // Azurite speaks http; the SDK refuses shared-key requests over http without this.
    allowInsecureConnection: true
  }
  if (auth.kind === 'connection-string') {
    return TableClient.fromConnectionString(auth.connectionString, tableName, options)
  }
  if (credential === undefined) throw new Error('a credential is required for STORAGE_TABLE_URL')
  return new TableClient(auth.tableUrl, tableName, credential, { retryOptions: options.retryOptions, additionalPolicies: options.additionalPolicies })
}

export function createSecretClient (config: VaultConfig, credential: TokenCredential): SecretClient {
  const local = config.keyVaultCaFile !== undefined
  return new SecretClient(config.keyVaultUrl, credential, {
    retryOptions: { maxRetries: 1, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
    ...(local
      ? {
          // dev-vault's self-signed certificate, and its challenge names a resource
          // that is not its own host (docs/architecture.md).
          tlsOptions: { ca: readFileSync(config.keyVaultCaFile as string, 'utf8') },
          disableChallengeResourceVerification: true
        }
      : {})
  })
}
