/**
 * The launcher's own variables (`npm start`): where each part listens and
 * where local data lives. The services' variables (LOG_LEVEL,
 * CODE_TTL_SECONDS, ...) are read by the services themselves; the launcher
 * passes them through.
 */
import { isAbsolute, join } from 'node:path'
import { readEnv, type ConfigSchema } from '@codegate/shared/config'
import { DEFAULT_PORTS, DEV_THIRD_PARTY_API_KEY, PORT_VARIABLES, type LocalSystemPorts } from './local-system.js'

type Env = Record<string, string | undefined>

const port = (description: string, fallback: number): ConfigSchema['properties'][string] =>
  ({ type: 'integer', minimum: 1, maximum: 65535, default: fallback, description })

export const launcherSchema: ConfigSchema = {
  properties: {
    [PORT_VARIABLES.api]: port('api port', DEFAULT_PORTS.api),
    [PORT_VARIABLES.worker]: port('worker health probe port', DEFAULT_PORTS.worker),
    [PORT_VARIABLES.numberApi]: port('number-api port', DEFAULT_PORTS.numberApi),
    [PORT_VARIABLES.vault]: port('dev-vault port', DEFAULT_PORTS.vault),
    [PORT_VARIABLES.queue]: port('Azurite queue port', DEFAULT_PORTS.queue),
    [PORT_VARIABLES.table]: port('Azurite table port', DEFAULT_PORTS.table),
    CODEGATE_DATA_DIR: { type: 'string', minLength: 1, default: '.data', description: 'Local data (Azurite, dev-vault certificate); relative paths are from the repository root' },
    THIRD_PARTY_API_KEY: { type: 'string', minLength: 1, default: DEV_THIRD_PARTY_API_KEY, description: 'Key seeded into dev-vault and accepted by number-api' },
    LAUNCHER_STOP_TIMEOUT_MS: { type: 'integer', minimum: 0, default: 15000, description: 'How long each process gets after SIGTERM before SIGKILL' },
    TRACE: { type: 'string', enum: ['1', '0', 'true', 'false'], default: '0', description: 'Start a local OTLP receiver, send the api\'s and worker\'s spans to it and keep them in <CODEGATE_DATA_DIR>/traces, for npm run trace' },
    OTLP_RECEIVER_PORT: port('local OTLP receiver port (TRACE=1)', 4318)
  },
  required: []
}

export interface LauncherConfig {
  ports: LocalSystemPorts
  dataDir: string
  /** TRACE=1: where the local OTLP receiver listens; undefined: no tracing. */
  trace?: { port: number }
  thirdPartyApiKey: string
  stopTimeoutMs: number
}

export function loadLauncherConfig (env: Env, root: string): LauncherConfig {
  const raw = readEnv(launcherSchema, env)
  const portOf = (name: keyof LocalSystemPorts): number => raw[PORT_VARIABLES[name]] as number
  const dataDir = raw.CODEGATE_DATA_DIR as string
  return {
    ports: {
      api: portOf('api'),
      worker: portOf('worker'),
      numberApi: portOf('numberApi'),
      vault: portOf('vault'),
      queue: portOf('queue'),
      table: portOf('table')
    },
    dataDir: isAbsolute(dataDir) ? dataDir : join(root, dataDir),
    ...(raw.TRACE === '1' || raw.TRACE === 'true' ? { trace: { port: raw.OTLP_RECEIVER_PORT as number } } : {}),
    thirdPartyApiKey: raw.THIRD_PARTY_API_KEY as string,
    stopTimeoutMs: raw.LAUNCHER_STOP_TIMEOUT_MS as number
  }
}
