/**
 * Static checks of the container and Azure deployment files against the one
 * config schemas (services/<name>/src/config.ts): docker-compose.yml, the
 * Dockerfile and infra/*.sh. Nothing is started; there is no Docker engine or
 * Azure account in CI. docker-compose and shellcheck are run when on PATH;
 * with CI=true a missing tool is a failure, elsewhere the check is skipped.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import type { ConfigSchema } from '@codegate/shared/config'
import { serviceConfigs } from '../src/service-configs.js'
import { SERVICE_NODE_FLAGS } from '../src/service-process.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const read = (file: string): string => readFileSync(join(root, file), 'utf8')

type Env = Record<string, string>

const configs = await serviceConfigs(root)
const schemas = { api: configs.api.schema, devVault: configs['dev-vault'].schema }

/** The codegate services: compose service = Dockerfile target = services/<name>. */
const codegate: Record<string, { schema: ConfigSchema, load: (env: Env) => unknown, portVariable: string }> = {
  api: { schema: configs.api.schema, load: configs.api.loadConfig, portVariable: 'PORT' },
  worker: { schema: configs.worker.schema, load: configs.worker.loadConfig, portVariable: 'WORKER_HEALTH_PORT' },
  'number-api': { schema: configs['number-api'].schema, load: configs['number-api'].loadConfig, portVariable: 'PORT' },
  'dev-vault': { schema: configs['dev-vault'].schema, load: configs['dev-vault'].loadConfig, portVariable: 'PORT' }
}

/** Read by the Azure SDK itself, not by the config schema (credentials.ts). */
const sdkVariables = new Set(['AZURE_CLIENT_ID'])

const inCI = ['true', '1'].includes((process.env.CI ?? '').toLowerCase())

function onPath (tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).error === undefined
}

/** Skip message when `tool` is missing outside CI; in CI the test runs and fails. */
function skipWithout (tool: string, install: string): string | false {
  if (onPath(tool) || inCI) return false
  return `${tool} is not on PATH: install it (${install}) to run this check; with CI=true it fails instead`
}

function defaultOf (schema: ConfigSchema, name: string): string | undefined {
  const value = schema.properties[name]?.default
  return value === undefined ? undefined : String(value)
}

/** Where a service listens: its env value, else the schema default. */
function listenPort (service: string, env: Env): number {
  const { schema, portVariable } = codegate[service]!
  return Number(env[portVariable] ?? defaultOf(schema, portVariable))
}

/** Required variables are set; storage is a connection string or a queue URL. */
function missingRequired (schema: ConfigSchema, env: Env): string[] {
  const missing = schema.required.filter((name) => (env[name] ?? '') === '')
  if ('STORAGE_CONNECTION_STRING' in schema.properties &&
      (env.STORAGE_CONNECTION_STRING ?? '') === '' && (env.STORAGE_QUEUE_URL ?? '') === '') {
    missing.push('STORAGE_CONNECTION_STRING or STORAGE_QUEUE_URL')
  }
  return missing
}

function unknownNames (schema: ConfigSchema, env: Env, allowed = new Set<string>()): string[] {
  return Object.keys(env).filter((name) => !(name in schema.properties) && !allowed.has(name))
}

// --- docker-compose.yml ------------------------------------------------------

interface ComposeService {
  image?: string
  build?: { context?: string, dockerfile?: string, target?: string }
  command?: string[] | string
  environment?: Record<string, string | number | boolean | null> | string[]
  ports?: (string | number | { target: number, published?: number | string })[]
  volumes?: (string | { type?: string, source?: string, target: string, read_only?: boolean })[]
  depends_on?: string[] | Record<string, { condition?: string }>
  healthcheck?: { test?: string[] | string, disable?: boolean }
  restart?: string
}

/** The file as compose reads it with no variable set: `${NAME:-default}` is its default. */
const composeText = read('docker-compose.yml').replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')
const compose = parse(composeText, { merge: true }) as { services: Record<string, ComposeService>, volumes?: Record<string, unknown> }
const services = compose.services

function envOf (service: ComposeService): Env {
  const env: Env = {}
  const raw = service.environment ?? {}
  if (Array.isArray(raw)) {
    for (const entry of raw) env[entry.split('=')[0]!] = entry.slice(entry.indexOf('=') + 1)
  } else {
    for (const [name, value] of Object.entries(raw)) env[name] = value === null ? '' : String(value)
  }
  return env
}

function portsOf (service: ComposeService): { published: number, target: number }[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'object') return { published: Number(port.published ?? port.target), target: port.target }
    const parts = String(port).split('/')[0]!.split(':')
    const target = Number(parts.at(-1))
    return { published: parts.length > 1 ? Number(parts.at(-2)) : target, target }
  })
}

function mountsOf (service: ComposeService): { source: string, target: string, readOnly: boolean }[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume === 'object') return { source: volume.source ?? '', target: volume.target, readOnly: volume.read_only === true }
    const [source = '', target = '', mode = ''] = volume.split(':')
    return { source, target, readOnly: mode.split(',').includes('ro') }
  })
}

function dependsOn (service: ComposeService): Record<string, string | undefined> {
  const deps = service.depends_on ?? {}
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, undefined]))
  return Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep.condition]))
}

/** Compose services named as hosts in URLs or connection strings of `env`. */
function hostsIn (env: Env): Map<string, number> {
  const hosts = new Map<string, number>()
  for (const value of Object.values(env)) {
    for (const match of value.matchAll(/[a-z]+:\/\/([a-z0-9.-]+):(\d+)/g)) {
      if (match[1]! in services) hosts.set(`${match[1]!}:${match[2]!}`, Number(match[2]))
    }
  }
  return hosts
}

t.test('docker-compose config -q accepts docker-compose.yml', { skip: skipWithout('docker-compose', 'apt-get install docker-compose') }, async (t) => {
  if (!onPath('docker-compose')) {
    t.fail('docker-compose is not on PATH; CI must install it (apt-get install docker-compose)')
    return
  }
  const result = spawnSync('docker-compose', ['config', '-q'], { cwd: root, encoding: 'utf8' })
  t.equal(result.status, 0, `docker-compose config -q: ${result.stderr}`)
})

t.test('docker-compose.yml runs every codegate service from its Dockerfile target', async (t) => {
  for (const name of Object.keys(codegate)) {
    const service = services[name]
    t.ok(service, `service ${name} exists`)
    t.equal(service?.build?.target, name, `${name} builds Dockerfile target ${name}`)
    t.equal(service?.build?.context ?? '.', '.', `${name} builds from the repository root`)
  }
})

t.test('every compose variable is one the service\'s config schema knows, and all required ones are set', async (t) => {
  for (const [name, { schema, load }] of Object.entries(codegate)) {
    const env = envOf(services[name]!)
    t.same(unknownNames(schema, env), [], `${name}: no variable outside its schema (typo?)`)
    t.same(missingRequired(schema, env), [], `${name}: required variables are set`)
    t.doesNotThrow(() => load(env), `${name}: its config loader accepts the environment`)
  }
})

t.test('published ports and healthchecks use the port each service listens on', async (t) => {
  const api = services.api!
  t.ok(portsOf(api).some((port) => port.target === Number(defaultOf(schemas.api, 'PORT'))), 'api publishes its default PORT (3000)')
  for (const name of Object.keys(codegate)) {
    const env = envOf(services[name]!)
    const port = listenPort(name, env)
    t.equal(port, Number(defaultOf(codegate[name]!.schema, codegate[name]!.portVariable)), `${name} listens on its default port`)
    for (const published of portsOf(services[name]!)) {
      t.same(published, { published: port, target: port }, `${name} publishes ${port} as ${port}`)
    }
    const test = [services[name]!.healthcheck?.test ?? []].flat().join(' ')
    t.match(test, new RegExp(`\\b${port}\\b`), `${name}'s healthcheck probes port ${port}`)
  }
})

t.test('containers listen on all interfaces', async (t) => {
  for (const name of ['api', 'number-api', 'dev-vault']) t.equal(envOf(services[name]!).HOST, '0.0.0.0', `${name} HOST`)
  t.equal(envOf(services.worker!).WORKER_HEALTH_HOST, '0.0.0.0', 'worker WORKER_HEALTH_HOST')
})

t.test('every service has a healthcheck, restarts, and waits for what it calls to be healthy', async (t) => {
  for (const [name, service] of Object.entries(services)) {
    t.ok(service.healthcheck?.test !== undefined && service.healthcheck.disable !== true, `${name} has a healthcheck`)
    t.equal(service.restart, 'unless-stopped', `${name} restarts unless stopped`)
    for (const [dependency, condition] of Object.entries(dependsOn(service))) {
      t.equal(condition, 'service_healthy', `${name} waits for ${dependency} to be healthy`)
    }
    const deps = dependsOn(service)
    for (const [hostPort, port] of hostsIn(envOf(service))) {
      const host = hostPort.split(':')[0]!
      // dev-vault's DEV_VAULT_URL is its own address (the issuer's name), not a call.
      if (host === name) continue
      t.equal(deps[host], 'service_healthy', `${name} calls ${host}, so depends_on it with service_healthy`)
      if (host in codegate) t.equal(port, listenPort(host, envOf(services[host]!)), `${name} calls ${host} on the port it listens on`)
    }
  }
  t.same(Object.keys(dependsOn(services.api!)).sort(), ['azurite', 'dev-vault', 'number-api'], 'api waits for storage, vault and number-api')
  t.same(Object.keys(dependsOn(services.worker!)), ['azurite', 'dev-vault'], 'worker waits for storage and the vault of the code hash key')
})

t.test('azurite serves queue and table to the network from a named volume', async (t) => {
  const azurite = services.azurite!
  const command = [azurite.command ?? []].flat().join(' ')
  t.match(command, /--queueHost 0\.0\.0\.0/, 'queue listens on all interfaces')
  t.match(command, /--tableHost 0\.0\.0\.0/, 'table listens on all interfaces')
  t.notMatch(command, /inMemoryPersistence/, 'data on disk (in-memory mode stalls under deletes)')
  const location = /--location (\S+)/.exec(command)?.[1]
  t.ok(mountsOf(azurite).some((m) => m.target === location && m.source in (compose.volumes ?? {})), 'its --location is a named volume')
  for (const name of ['api', 'worker']) {
    const connection = envOf(services[name]!).STORAGE_CONNECTION_STRING ?? ''
    t.match(connection, /QueueEndpoint=http:\/\/azurite:10001\/devstoreaccount1/, `${name} queue endpoint`)
    t.match(connection, /TableEndpoint=http:\/\/azurite:10002\/devstoreaccount1/, `${name} table endpoint`)
  }
})

t.test('the api and the worker reach dev-vault over TLS with the certificate dev-vault writes', async (t) => {
  for (const name of ['api', 'worker']) {
    const env = envOf(services[name]!)
    t.equal(env.KEY_VAULT_URL, envOf(services.api!).KEY_VAULT_URL, `${name}: the same vault (the code hash key)`)
    const mount = mountsOf(services[name]!).find((m) => posix.join(m.target, 'cert.pem') === env.KEY_VAULT_CA_FILE)
    t.ok(mount?.readOnly, `${name} reads the certificate from a read-only mount`)
  }
  const api = envOf(services.api!)
  const vault = envOf(services['dev-vault']!)
  const vaultUrl = new URL(api.KEY_VAULT_URL!)
  t.equal(vaultUrl.protocol, 'https:', 'KEY_VAULT_URL is https')
  const hostnames = (vault.DEV_VAULT_HOSTNAMES ?? defaultOf(schemas.devVault, 'DEV_VAULT_HOSTNAMES')!).split(',')
  for (const name of [vaultUrl.hostname, 'localhost', '127.0.0.1']) t.ok(hostnames.includes(name), `the certificate names ${name}`)

  const certDir = vault.DEV_VAULT_CERT_DIR ?? ''
  t.ok(posix.isAbsolute(certDir), 'DEV_VAULT_CERT_DIR is an absolute path in the container')
  const written = mountsOf(services['dev-vault']!).find((m) => m.target === certDir)
  t.ok(written !== undefined && written.source in (compose.volumes ?? {}), 'dev-vault writes its certificate to a named volume')
  const caFile = api.KEY_VAULT_CA_FILE ?? ''
  const read = mountsOf(services.api!).find((m) => m.source === written?.source)
  t.ok(read?.readOnly, 'the api mounts that volume read-only')
  t.equal(caFile, posix.join(read?.target ?? '', 'cert.pem'), 'KEY_VAULT_CA_FILE is cert.pem in that volume')
})

t.test('the seeded third-party key is one number-api accepts, under the name the api reads', async (t) => {
  const vault = envOf(services['dev-vault']!)
  const api = envOf(services.api!)
  const accepted = (envOf(services['number-api']!).THIRD_PARTY_API_KEYS ?? '').split(',').map((k) => k.trim())
  t.ok(vault.THIRD_PARTY_API_KEY !== undefined && accepted.includes(vault.THIRD_PARTY_API_KEY), 'number-api accepts the seeded key')
  const secretName = (env: Env): string | undefined => env.THIRD_PARTY_API_SECRET_NAME ?? defaultOf(schemas.api, 'THIRD_PARTY_API_SECRET_NAME')
  t.equal(secretName(vault), secretName(api), 'dev-vault seeds the secret the api reads')
  t.equal(new URL(api.THIRD_PARTY_API_ENDPOINT!).pathname, '/api/RandomNumber', 'the api calls the RandomNumber route')
})

// --- Dockerfile --------------------------------------------------------------

interface Stage { name: string, from: string, instructions: { keyword: string, args: string }[] }

function parseDockerfile (text: string): { args: Env, stages: Map<string, Stage> } {
  const args: Env = {}
  const stages = new Map<string, Stage>()
  let current: Stage | undefined
  const logical = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/)
    const upper = keyword.toUpperCase()
    const argsText = rest.join(' ')
    if (upper === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(argsText)
      current = { name: from?.[2] ?? String(stages.size), from: from?.[1] ?? '', instructions: [] }
      stages.set(current.name, current)
    } else if (current === undefined && upper === 'ARG') {
      const [name = '', value = ''] = argsText.split('=')
      args[name] = value
    } else {
      current?.instructions.push({ keyword: upper, args: argsText })
    }
  }
  return { args, stages }
}

const dockerfile = parseDockerfile(read('Dockerfile'))

/** A stage's instructions after those of the stages it builds on. */
function effective (name: string): Stage['instructions'] {
  const stage = dockerfile.stages.get(name)
  if (stage === undefined) return []
  return [...effective(stage.from), ...stage.instructions]
}

function baseImage (name: string): string {
  const from = dockerfile.stages.get(name)?.from ?? name
  if (dockerfile.stages.has(from)) return baseImage(from)
  return from.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => dockerfile.args[a ?? b ?? ''] ?? '')
}

t.test('the Dockerfile has a non-root, health-checked production stage per service', async (t) => {
  for (const name of Object.keys(codegate)) {
    t.ok(dockerfile.stages.has(name), `stage ${name} exists`)
    const instructions = effective(name)
    const last = (keyword: string): string | undefined => instructions.filter((i) => i.keyword === keyword).at(-1)?.args
    const user = last('USER')
    t.ok(user !== undefined && !/^(root|0)(:|$)/.test(user), `${name} runs as a non-root user (${user ?? 'none'})`)
    const healthcheck = last('HEALTHCHECK')
    t.ok(healthcheck !== undefined && !/^NONE$/i.test(healthcheck), `${name} has a HEALTHCHECK`)
    t.match(healthcheck ?? '', new RegExp(`\\b${defaultOf(codegate[name]!.schema, codegate[name]!.portVariable)!}\\b`), `${name}'s HEALTHCHECK probes its default port`)
    t.ok(instructions.some((i) => i.keyword === 'ENV' && /\bNODE_ENV=production\b/.test(i.args)), `${name} sets NODE_ENV=production`)
    t.ok(instructions.some((i) => i.keyword === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args) && i.args.includes(`services/${name}`)), `${name} installs its production dependencies only`)
    t.match(last('CMD') ?? '', `services/${name}/dist/main.js`, `${name} starts services/${name}/dist/main.js`)
    t.equal(baseImage(name), 'node:24-bookworm-slim', `${name} runs on node:24-bookworm-slim, the active LTS`)
  }
})

t.test('one build argument, NODE_IMAGE, names the base image of every stage', async (t) => {
  const roots = [...dockerfile.stages.values()].filter((stage) => !dockerfile.stages.has(stage.from))
  t.ok(roots.length >= 2, 'the build stage and the runtime base')
  for (const stage of roots) t.equal(stage.from, '${NODE_IMAGE}', `${stage.name} starts FROM \${NODE_IMAGE}`)
  t.equal(dockerfile.args.NODE_IMAGE, 'node:24-bookworm-slim', 'the default is Node 24, the active LTS')
})

t.test('the api and worker images run with the heap limits the local system and benchmarks use', async (t) => {
  for (const name of ['api', 'worker'] as const) {
    const env = effective(name).filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ')
    t.match(env, `NODE_OPTIONS="${(SERVICE_NODE_FLAGS[name] ?? []).join(' ')}"`, `${name}: NODE_OPTIONS`)
  }
})

t.test('the Dockerfile copies every workspace manifest, as npm ci needs them all', async (t) => {
  const text = read('Dockerfile')
  const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces
  const dirs = workspaces.flatMap((pattern) => pattern.endsWith('/*')
    ? readdirSync(join(root, pattern.slice(0, -2)), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `${pattern.slice(0, -2)}/${d.name}`)
    : [pattern])
  for (const dir of dirs) t.ok(text.includes(`COPY ${dir}/package.json `), `${dir}/package.json is copied`)
  const ignore = read('.dockerignore').split(/\r?\n/)
  for (const entry of ['**/node_modules', '**/dist', '**/*.tsbuildinfo']) t.ok(ignore.includes(entry), `.dockerignore excludes ${entry}`)
})

// --- infra -------------------------------------------------------------------

const infraScripts = readdirSync(join(root, 'infra')).filter((f) => f.endsWith('.sh')).map((f) => join('infra', f))

t.test('infra scripts pass shellcheck', { skip: skipWithout('shellcheck', 'apt-get install shellcheck') }, async (t) => {
  if (!onPath('shellcheck')) {
    t.fail('shellcheck is not on PATH; CI must install it (apt-get install shellcheck)')
    return
  }
  t.ok(infraScripts.length >= 2, 'deploy.sh and teardown.sh are there')
  for (const script of infraScripts) {
    const result = spawnSync('shellcheck', [script], { cwd: root, encoding: 'utf8' })
    t.equal(result.status, 0, `shellcheck ${script}\n${result.stdout}`)
  }
})

/** infra/deploy.sh's ARM body for one app, rendered by the script's own functions. */
function renderApp (app: string, inputs: Env): { env: Env, body: Record<string, any> } { // eslint-disable-line @typescript-eslint/no-explicit-any -- ARM JSON, checked field by field
  const assignments = Object.entries(inputs).map(([k, v]) => `${k}='${v}'`).join(' ')
  const result = spawnSync('bash', ['-c', `source infra/deploy.sh && ${assignments} app_json ${app}`], { cwd: root, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`app_json ${app}: ${result.stderr}`)
  const body = JSON.parse(result.stdout)
  const env = Object.fromEntries((body.properties.template.containers[0].env as { name: string, value: string }[]).map((e) => [e.name, e.value]))
  return { env, body }
}

t.test('infra/deploy.sh gives the apps URLs and a managed identity each, never keys', async (t) => {
  const inputs: Env = {
    LOCATION: 'westeurope',
    IMAGE_TAG: 'test',
    API_MIN_REPLICAS: '1',
    API_MAX_REPLICAS: '10',
    WORKER_MIN_REPLICAS: '1',
    WORKER_MAX_REPLICAS: '10',
    API_CPU: '0.25',
    API_MEMORY: '0.5Gi',
    WORKER_CPU: '0.25',
    WORKER_MEMORY: '0.5Gi',
    REVISION_SUFFIX: 'r1',
    LIMITS_TABLE_NAME: 'signinlimits',
    STORAGE_ACCOUNT: 'codegatest',
    api_identity_id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/codegate-api-identity',
    api_identity_client_id: '00000000-0000-0000-0000-00000000000a',
    worker_identity_id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/codegate-worker-identity',
    worker_identity_client_id: '00000000-0000-0000-0000-00000000000b',
    vault_url: 'https://codegate-kv.vault.azure.net',
    queue_url: 'https://codegatest.queue.core.windows.net/code-requests',
    table_url: 'https://codegatest.table.core.windows.net',
    registry_server: 'codegatecr.azurecr.io',
    environment_id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/codegate-env',
    THIRD_PARTY_API_ENDPOINT: 'https://numbers.example.net/api/RandomNumber',
    AUTH_MODE: 'entra',
    AUTH_ISSUER: 'https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/v2.0',
    AUTH_AUDIENCE: '00000000-0000-0000-0000-0000000000bb',
    AUTH_ISSUE_ROLE: 'Codes.Issue',
    AUTH_VERIFY_ROLE: 'Codes.Verify'
  }
  for (const app of ['api', 'worker']) {
    const { env, body } = renderApp(app, inputs)
    const { schema, load } = codegate[app]!
    t.same(unknownNames(schema, env, sdkVariables), [], `${app}: no variable outside its schema`)
    t.same(missingRequired(schema, env), [], `${app}: required variables are set`)
    t.doesNotThrow(() => load(env), `${app}: its config loader accepts the environment`)
    t.equal(env.AZURE_CREDENTIAL, 'default', `${app} uses DefaultAzureCredential`)
    const identity = inputs[`${app}_identity_id`]!
    t.equal(env.AZURE_CLIENT_ID, inputs[`${app}_identity_client_id`], `${app} names its user-assigned identity`)
    t.notOk('STORAGE_CONNECTION_STRING' in env || 'KEY_VAULT_CA_FILE' in env, `${app} has no local-only settings`)
    t.notMatch(JSON.stringify(body), /AccountKey|SharedAccessSignature|"secrets"/, `${app} carries no key`)
    t.same(Object.keys(body.identity.userAssignedIdentities), [identity], `${app} runs as its own identity`)
    t.equal(body.properties.configuration.registries[0].identity, identity, `${app} pulls its image as its identity`)
    const port = listenPort(app, env)
    const probes = body.properties.template.containers[0].probes as { type: string, httpGet: { path: string, port: number } }[]
    t.same(probes.map((p) => [p.type, p.httpGet.path, p.httpGet.port]).sort(),
      [['Liveness', '/healthz', port], ['Readiness', '/readyz', port], ['Startup', '/healthz', port]], `${app} probes /healthz and /readyz on ${port}`)
  }

  const api = renderApp('api', inputs)
  t.same(api.body.properties.configuration.ingress, { external: true, targetPort: listenPort('api', api.env), transport: 'auto', allowInsecure: false }, 'api: external HTTPS ingress to its PORT')
  t.equal(api.env.HOST, '0.0.0.0', 'api listens on all interfaces')
  t.match(api.env.TRUST_PROXY, /uniquelocal/, 'api trusts the ingress proxy by address, not blindly')

  const worker = renderApp('worker', inputs)
  t.notOk('ingress' in worker.body.properties.configuration, 'worker has no ingress')
  t.equal(worker.env.WORKER_HEALTH_HOST, '0.0.0.0', 'worker probes answer on all interfaces')
  const backlogRule = (queueName: string, index: number): unknown => ({
    name: `backlog-${index}`,
    custom: {
      type: 'azure-queue',
      metadata: { accountName: inputs.STORAGE_ACCOUNT, queueName, queueLength: '32', queueLengthStrategy: 'visibleonly' },
      identity: inputs.worker_identity_id
    }
  })
  const base = new URL(worker.env.STORAGE_QUEUE_URL!).pathname.slice(1)
  t.same(worker.body.properties.template.scale.rules, [backlogRule(base, 0)], 'worker scales on its queue\'s visible messages, read with the worker\'s own identity')
  t.equal(worker.env.QUEUE_SHARDS, '1')

  // With Application Insights (APP_INSIGHTS=true, the default): its connection string is the apps' one secret, named by the variable.
  for (const app of ['api', 'worker']) {
    const connectionString = 'InstrumentationKey=00000000-0000-4000-8000-000000000001;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/'
    const traced = renderApp(app, { ...inputs, insights_connection_string: connectionString })
    t.same(traced.body.properties.configuration.secrets, [{ name: 'appinsights-connection-string', value: connectionString }], `${app}: the connection string is a secret`)
    const env = traced.body.properties.template.containers[0].env as { name: string, value?: string, secretRef?: string }[]
    t.same(env.filter((e) => e.name === 'APPLICATIONINSIGHTS_CONNECTION_STRING'), [{ name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', secretRef: 'appinsights-connection-string' }], `${app}: read through secretRef, never a plain value`)
    t.notOk(JSON.stringify(env).includes(connectionString), `${app}: the value is in no plain variable`)
  }

  const sharded = renderApp('worker', { ...inputs, QUEUE_SHARDS: '3' })
  t.same(sharded.body.properties.template.scale.rules, [backlogRule(base, 0), backlogRule(`${base}-1`, 1), backlogRule(`${base}-2`, 2)], 'one rule per shard')
  t.equal(sharded.env.QUEUE_SHARDS, '3')
  t.equal(renderApp('api', { ...inputs, QUEUE_SHARDS: '3' }).env.QUEUE_SHARDS, '3', 'api and worker agree on the shards')
})
