/** dev-vault's variables: where it listens, its certificate, and the secrets it seeds. Loaded once in main.ts from process.env. */
import { fragments, int, list, optional, readEnv, str, type ConfigSchema, type Env, type JsonSchemaProperty, type LogConfig, type Properties } from '@codegate/shared/config'

const devVault: Properties = {
  HOST: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to listen on' },
  PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8443, description: 'Port to listen on' },
  DEV_VAULT_CERT_DIR: { type: 'string', minLength: 1, default: '.data/dev-vault', description: 'Where dev-vault keeps its certificate (cert.pem is what clients trust) and its token-signing keys' },
  DEV_VAULT_URL: { type: 'string', pattern: '^https://[^/]+$', description: 'Base URL other processes reach dev-vault at (its token issuer is <this>/<tenant>/v2.0), e.g. https://dev-vault:8443. Default: https://<HOST, or 127.0.0.1 for a wildcard>:<PORT>' },
  DEV_VAULT_HOSTNAMES: { type: 'string', minLength: 1, default: 'localhost,127.0.0.1', description: 'Comma-separated names and addresses put in the certificate' },
  THIRD_PARTY_API_SECRET_NAME: fragments.vault.THIRD_PARTY_API_SECRET_NAME as JsonSchemaProperty,
  THIRD_PARTY_API_KEY: { type: 'string', minLength: 1, description: 'Value seeded into the secret THIRD_PARTY_API_SECRET_NAME at start' },
  CODE_HASH_SECRET_NAME: fragments.codeHash.CODE_HASH_SECRET_NAME as JsonSchemaProperty,
  CODE_HASH_KEY: { type: 'string', minLength: 32, description: 'Value seeded into the secret CODE_HASH_SECRET_NAME at start (at least 32 characters); unset: dev-vault makes a random one' }
}

export const schema: ConfigSchema = { properties: { ...fragments.log, ...devVault }, required: [] }

export interface DevVaultConfig extends LogConfig {
  host: string
  port: number
  /** Base URL clients use (the issuer's iss is built from it); default from host and the bound port. */
  publicUrl?: string
  certDir: string
  hostnames: string[]
  seed: Record<string, string>
  /** The code hash key seeded at start: this value, or a random one when none is given. */
  codeHashSeed?: { name: string, value?: string }
}

export function loadConfig (env: Env): DevVaultConfig {
  const raw = readEnv(schema, env)
  const key = optional(raw, 'THIRD_PARTY_API_KEY')
  const hashKey = optional(raw, 'CODE_HASH_KEY')
  const publicUrl = optional(raw, 'DEV_VAULT_URL')
  return {
    logLevel: str(raw, 'LOG_LEVEL'),
    host: str(raw, 'HOST'),
    port: int(raw, 'PORT'),
    ...(publicUrl !== undefined ? { publicUrl } : {}),
    certDir: str(raw, 'DEV_VAULT_CERT_DIR'),
    hostnames: list(str(raw, 'DEV_VAULT_HOSTNAMES')),
    seed: key !== undefined ? { [str(raw, 'THIRD_PARTY_API_SECRET_NAME')]: key } : {},
    codeHashSeed: { name: str(raw, 'CODE_HASH_SECRET_NAME'), ...(hashKey !== undefined ? { value: hashKey } : {}) }
  }
}
