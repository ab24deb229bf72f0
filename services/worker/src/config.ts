/**
 * The worker's variables: the shared ones it reads (its vault only for the
 * code hash key), its own, and the rule that ties its visibility timeout to
 * the codes' life. Loaded once in main.ts from process.env.
 */
import {
  codeHashVaultConfig, fragments, int, observabilityConfig, readEnv, storageProcessConfig, str,
  type CodeHashVaultConfig, type ConfigSchema, type CredentialConfig, type Env, type JsonSchemaProperty, type LogConfig,
  type ObservabilityConfig, type Properties, type Raw, type StorageConfig
} from '@codegate/shared/config'
import { ConfigError } from '@codegate/shared/errors'

const { log, observability, storage, credential, vault, codeHash } = fragments

const workerVault: Properties = {
  KEY_VAULT_URL: { type: 'string', pattern: '^https?://', description: vault.KEY_VAULT_URL?.description ?? '' },
  KEY_VAULT_CA_FILE: vault.KEY_VAULT_CA_FILE as JsonSchemaProperty
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

export const schema: ConfigSchema = {
  properties: { ...log, ...observability, ...storage, ...credential, ...workerVault, ...codeHash, ...worker },
  required: []
}

export interface WorkerConfig extends LogConfig, ObservabilityConfig, StorageConfig, CredentialConfig {
  /**
   * The vault of the code hash key, to hash the original sample's messages
   * (and earlier envelopes) that carry a code in clear; without it they are
   * poisoned. Set by npm start, compose and infra/deploy.sh.
   */
  codeHashVault?: CodeHashVaultConfig
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

export function loadConfig (env: Env): WorkerConfig {
  const raw = readEnv(schema, env)
  return {
    ...storageProcessConfig(raw),
    ...observabilityConfig(raw),
    ...codeHashVaultConfig(raw),
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
