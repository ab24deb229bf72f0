/**
 * The Azure Functions app's variables: the shared ones, the api's that its
 * HTTP triggers use, and which functions it registers. Loaded once in
 * index.ts from the app settings.
 */
import { apiProperties, operationsConfig, type OperationsConfig } from '@codegate/api/config'
import {
  codeHashVaultConfig, fragments, optional, readEnv, storageProcessConfig, str,
  type CodeHashVaultConfig, type ConfigSchema, type CredentialConfig, type Env,
  type JsonSchemaProperty, type LogConfig, type Properties, type StorageConfig
} from '@codegate/shared/config'
import { ConfigError } from '@codegate/shared/errors'

const { log, storage, credential, vault, codeHash, callerAuth } = fragments

/** The api's settings that the Azure Functions app's HTTP triggers use (the host does the listening). */
const functionsApi: Properties = {
  FUNCTIONS_ENABLED: { type: 'string', enum: ['all', 'api', 'worker'], default: 'all', description: 'Which functions the app registers: all, api (getcode and sign-in) or worker (the queue trigger), so the two sides can run as two apps with identities of their own. KEY_VAULT_URL, THIRD_PARTY_API_ENDPOINT and (with AUTH_MODE=entra) AUTH_ISSUER and AUTH_AUDIENCE are required unless worker' },
  THIRD_PARTY_API_ENDPOINT: apiProperties.THIRD_PARTY_API_ENDPOINT as JsonSchemaProperty,
  THIRD_PARTY_TIMEOUT_MS: apiProperties.THIRD_PARTY_TIMEOUT_MS as JsonSchemaProperty,
  SIGNIN_MAX_FAILURES: apiProperties.SIGNIN_MAX_FAILURES as JsonSchemaProperty,
  SIGNIN_SUBJECT_MAX_FAILURES: apiProperties.SIGNIN_SUBJECT_MAX_FAILURES as JsonSchemaProperty,
  SIGNIN_LOCKOUT_SECONDS: apiProperties.SIGNIN_LOCKOUT_SECONDS as JsonSchemaProperty,
  SIGNIN_LIMITS_STORE: apiProperties.SIGNIN_LIMITS_STORE as JsonSchemaProperty,
  SIGNIN_LIMITS_TABLE_NAME: apiProperties.SIGNIN_LIMITS_TABLE_NAME as JsonSchemaProperty
}

// KEY_VAULT_URL and THIRD_PARTY_API_ENDPOINT are required unless FUNCTIONS_ENABLED=worker (loadConfig).
export const schema: ConfigSchema = {
  properties: { ...log, ...storage, ...credential, ...vault, ...codeHash, ...functionsApi, ...callerAuth },
  required: []
}

/**
 * The Azure Functions app: getcode and sign-in as HTTP triggers, the worker as
 * a queue trigger. Batching, polling, retries and poison are the host's
 * (services/functions/host.json), not variables.
 */
export interface FunctionsConfig extends LogConfig, StorageConfig, CredentialConfig {
  enabled: 'all' | 'api' | 'worker'
  /**
   * As the container worker's: the vault of the code hash key, which the
   * queue trigger needs to hash the original sample's messages. Always set
   * when getcode and sign-in run (KEY_VAULT_URL is then required).
   */
  codeHashVault?: CodeHashVaultConfig
  /** What getcode and sign-in need; absent when only the worker runs. */
  api?: FunctionsApiConfig
}

/** What getcode and sign-in need: the api's own (services/api/src/config.ts). */
export type FunctionsApiConfig = OperationsConfig

export function loadConfig (env: Env): FunctionsConfig {
  const raw = readEnv(schema, env)
  const base = { ...storageProcessConfig(raw), enabled: str(raw, 'FUNCTIONS_ENABLED') as FunctionsConfig['enabled'], ...codeHashVaultConfig(raw) }
  if (base.messageEncoding !== 'base64') {
    // The queue trigger decodes base64 (host.json messageEncoding); text would go to the poison queue unread.
    throw new ConfigError([{ variable: 'QUEUE_MESSAGE_ENCODING', problem: 'must be base64 for the Functions queue trigger (host.json messageEncoding)' }])
  }
  if (base.enabled === 'worker') return base
  const missing = ['KEY_VAULT_URL', 'THIRD_PARTY_API_ENDPOINT'].filter((name) => optional(raw, name) === undefined)
  if (missing.length > 0) throw new ConfigError(missing.map((variable) => ({ variable, problem: `is required (unless FUNCTIONS_ENABLED=worker)` })))
  return { ...base, api: operationsConfig(raw) }
}
