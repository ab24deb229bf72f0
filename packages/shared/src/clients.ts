/**
 * Factories for the Azure SDK clients. Nothing else in codegate constructs a
 * client, so tests and processes differ only in the config they pass.
 */
import { readFileSync } from 'node:fs'
import type { TokenCredential } from '@azure/core-auth'
import { TableClient } from '@azure/data-tables'
import { SecretClient } from '@azure/keyvault-secrets'
import { QueueClient, QueueServiceClient, type StoragePipelineOptions } from '@azure/storage-queue'
import type { StorageConfig, VaultConfig } from './config.js'

export interface Queues {
  queue: QueueClient
  poison: QueueClient
}

/**
 * Few, short retries: a request handler answers 503 within a bound instead of
 * hanging in the SDK's default back-off, and the worker has its own.
 */
function retryOptions (config: StorageConfig): StoragePipelineOptions['retryOptions'] {
  return { maxTries: 2, tryTimeoutInMs: config.storageTimeoutMs, retryDelayInMs: 100, maxRetryDelayInMs: 500 }
}

/** `<queue>-poison`: the name the Azure Functions host gives the poison queue too. */
export function poisonQueueName (queueName: string): string {
  return `${queueName}-poison`
}

/** The queue's name: STORAGE_QUEUE_NAME with a connection string, else the last segment of STORAGE_QUEUE_URL. */
export function queueNameOf (config: StorageConfig): string {
  const { auth } = config
  if (auth.kind === 'connection-string') return auth.queueName
  return new URL(auth.queueUrl).pathname.split('/').filter((s) => s !== '').pop() ?? ''
}

export function createQueues (config: StorageConfig, credential?: TokenCredential): Queues {
  const options: StoragePipelineOptions = { retryOptions: retryOptions(config) }
  const { auth } = config
  if (auth.kind === 'connection-string') {
    const service = QueueServiceClient.fromConnectionString(auth.connectionString, options)
    return { queue: service.getQueueClient(auth.queueName), poison: service.getQueueClient(poisonQueueName(auth.queueName)) }
  }
  if (credential === undefined) throw new Error('a credential is required for STORAGE_QUEUE_URL')
  const url = new URL(auth.queueUrl)
  const poisonUrl = new URL(url)
  poisonUrl.pathname = url.pathname.replace(/\/?$/, '') + '-poison'
  return { queue: new QueueClient(url.toString(), credential, options), poison: new QueueClient(poisonUrl.toString(), credential, options) }
}

export function createTableClient (config: StorageConfig, credential?: TokenCredential): TableClient {
  const { auth } = config
  const options = {
    retryOptions: { maxRetries: 1, retryDelayInMs: 100, maxRetryDelayInMs: 500 },
    // Azurite speaks http; the SDK refuses shared-key requests over http without this.
    allowInsecureConnection: true
  }
  if (auth.kind === 'connection-string') {
    return TableClient.fromConnectionString(auth.connectionString, config.tableName, options)
  }
  if (credential === undefined) throw new Error('a credential is required for STORAGE_TABLE_URL')
  return new TableClient(auth.tableUrl, config.tableName, credential, { retryOptions: options.retryOptions })
}

export function createSecretClient (config: VaultConfig, credential: TokenCredential): SecretClient {
  const local = config.keyVaultCaFile !== undefined
  return new SecretClient(config.keyVaultUrl, credential, {
    retryOptions: { maxRetries: 1, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
    ...(local
      ? {
          // dev-vault's self-signed certificate, and its challenge names a resource
          // that is not its own host (emulators.md).
          tlsOptions: { ca: readFileSync(config.keyVaultCaFile as string, 'utf8') },
          disableChallengeResourceVerification: true
        }
      : {})
  })
}
