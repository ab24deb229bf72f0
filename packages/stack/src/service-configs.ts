/**
 * Each process's config module (services/<name>/src/config.ts: its `schema`
 * and `loadConfig`), read from the built services the way the stack starts
 * them: by path, not as package dependencies, since the services' own tests
 * depend on the stack. The stack gives each service only the settings its
 * schema names; the README's variable table is made from them all.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { ConfigSchema, Env, JsonSchemaProperty } from '@codegate/shared/config'
import { CodegateError } from '@codegate/shared/errors'

/** The processes with a config of their own, named as the README names them (their folder under services/). */
export const CONFIG_SERVICES = ['api', 'worker', 'functions', 'number-api', 'dev-vault'] as const
export type ConfigService = typeof CONFIG_SERVICES[number]

/** What services/<name>/dist/config.js exports. */
export interface ServiceConfig {
  schema: ConfigSchema
  /** Validates `env`; throws ConfigError naming each bad variable. */
  loadConfig: (env: Env) => unknown
}

/** services/<service>/dist/config.js under `root`, checked to export a schema and a loader. */
export async function serviceConfig (root: string, service: ConfigService): Promise<ServiceConfig> {
  const file = join(root, 'services', service, 'dist', 'config.js')
  const module = await import(pathToFileURL(file).href) as Partial<ServiceConfig>
  if (typeof module.schema?.properties !== 'object' || typeof module.loadConfig !== 'function') {
    throw new CodegateError('CONFIG_MODULE_INVALID', `${file} exports no schema and loadConfig: run \`npm run build\``)
  }
  return { schema: module.schema, loadConfig: module.loadConfig }
}

/** Every process's config module, by service. */
export async function serviceConfigs (root: string): Promise<Record<ConfigService, ServiceConfig>> {
  const entries = await Promise.all(CONFIG_SERVICES.map(async (service) => [service, await serviceConfig(root, service)] as const))
  return Object.fromEntries(entries) as Record<ConfigService, ServiceConfig>
}

/** The README's table of variables, made from the processes' schemas so the two cannot drift. */
export function configTable (configs: Record<ConfigService, { schema: ConfigSchema }>): string {
  const rows = new Map<string, { used: string[], defaults: string[], property: JsonSchemaProperty, required: boolean }>()
  for (const service of CONFIG_SERVICES) {
    const { schema } = configs[service]
    for (const [name, property] of Object.entries(schema.properties)) {
      const row = rows.get(name) ?? { used: [], defaults: [], property, required: false }
      row.used.push(service)
      if (property.default !== undefined) row.defaults.push(`${service}: \`${String(property.default)}\``)
      row.required ||= schema.required.includes(name)
      rows.set(name, row)
    }
  }
  const lines = ['| variable | used by | default | meaning |', '|---|---|---|---|']
  for (const [name, { used, defaults, property, required }] of rows) {
    const same = new Set(defaults.map((d) => d.slice(d.indexOf(':') + 2))).size === 1
    const fallback = defaults.length === 0 ? (required ? '**required**' : '–') : same ? (defaults[0] as string).slice((defaults[0] as string).indexOf(':') + 2) : defaults.join(', ')
    lines.push(`| \`${name}\` | ${used.join(', ')} | ${fallback} | ${property.description.replaceAll('|', '\\|')} |`)
  }
  return lines.join('\n')
}
