/** number-api's variables: the keys it accepts and where it listens. Loaded once in main.ts from process.env. */
import { fragments, int, list, readEnv, str, type ConfigSchema, type Env, type LogConfig, type Properties } from '@codegate/shared/config'
import { ConfigError } from '@codegate/shared/errors'

const numberApi: Properties = {
  THIRD_PARTY_API_KEYS: { type: 'string', minLength: 1, description: 'Comma-separated keys accepted by number-api (several, for rotation)' },
  HOST: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to listen on' },
  PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 7071, description: 'Port to listen on' }
}

export const schema: ConfigSchema = { properties: { ...fragments.log, ...numberApi }, required: ['THIRD_PARTY_API_KEYS'] }

export interface NumberApiConfig extends LogConfig {
  keys: string[]
  host: string
  port: number
}

export function loadConfig (env: Env): NumberApiConfig {
  const raw = readEnv(schema, env)
  const keys = list(str(raw, 'THIRD_PARTY_API_KEYS'))
  if (keys.length === 0) throw new ConfigError([{ variable: 'THIRD_PARTY_API_KEYS', problem: 'holds no key' }])
  return { logLevel: str(raw, 'LOG_LEVEL'), keys, host: str(raw, 'HOST'), port: int(raw, 'PORT') }
}
