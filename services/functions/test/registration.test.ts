/**
 * The app as the host loads it: index.js is imported with the app settings
 * in the environment, and a stand-in for the host's `@azure/functions-core`
 * (what the Node worker injects; the host cannot run here) records what
 * @azure/functions registers: each function's binding metadata and its
 * handler. The metadata must agree with host.json, the queue names the
 * container worker uses and the api's routes; the recorded handlers then
 * issue, activate and sign in a code.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import Module from 'node:module'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import azureFunctions from '@azure/functions'
import { requestDevToken } from '@codegate/dev-vault'
import { poisonQueueName } from '@codegate/shared/clients'
import { shardQueueName } from '@codegate/shared/shards'
import { schema as workerSchema } from '@codegate/worker/config'
import { schema as functionsSchema } from '../src/config.js'
import { HOST_JSON_URL } from '../src/host-settings.js'
import { registerFunctions, triggerName, TRIGGER_CONNECTION } from '../src/functions.js'
import { azuriteFor, configFor, functionsConfigOf, HOST, id, KEY, numberApiFor, vaultFor, type Parts } from './fixtures/parts.js'
import { invocation, jsonRequest, QueueListener, request, type QueueHandler } from './fixtures/host.js'

interface Binding { type: string, direction: string, [key: string]: unknown }
interface Registered { metadata: { name: string, bindings: Record<string, Binding> }, callback: (...args: unknown[]) => Promise<unknown> }

let registered = new Map<string, Registered>()
const coreStandIn = {
  version: 'test',
  setProgrammingModel: () => {},
  getProgrammingModel: () => undefined,
  registerHook: () => ({ dispose: () => {} }),
  log: () => {},
  registerFunction: (metadata: Registered['metadata'], callback: Registered['callback']) => {
    registered.set(metadata.name, { metadata, callback })
    return { dispose: () => {} }
  }
}
// How the Node worker provides the module: it answers require('@azure/functions-core').
const moduleInternals = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown }
const load = moduleInternals._load
moduleInternals._load = (name, ...rest) => name === '@azure/functions-core' ? coreStandIn : load(name, ...rest)
t.teardown(() => { moduleInternals._load = load })

const parts: Parts = { azurite: await azuriteFor(t), vault: await vaultFor(t), numberApi: await numberApiFor(t) }
const config = configFor(parts)
const queueName = `fn-${id()}`
const settings: Record<string, string> = {
  LOG_LEVEL: 'silent',
  STORAGE_CONNECTION_STRING: parts.azurite.connectionString,
  STORAGE_QUEUE_NAME: queueName,
  CODES_TABLE_NAME: config.tableName,
  AZURE_CREDENTIAL: 'dev',
  KEY_VAULT_URL: parts.vault.url,
  KEY_VAULT_CA_FILE: parts.vault.certFile,
  THIRD_PARTY_API_SECRET_NAME: config.secretName,
  THIRD_PARTY_API_ENDPOINT: parts.numberApi.url,
  AUTH_ISSUER: parts.vault.issuer.issuer,
  AUTH_AUDIENCE: 'api://codegate-functions-test',
  AUTH_CA_FILE: parts.vault.certFile
}
const tokenWith = async (role: string): Promise<string> =>
  (await requestDevToken({ tokenEndpoint: parts.vault.issuer.tokenEndpoint, ca: parts.vault.caPem, audience: settings.AUTH_AUDIENCE as string, roles: [role] })).token
Object.assign(process.env, settings)
await import('../src/index.js')

const hostJson = JSON.parse(readFileSync(HOST_JSON_URL, 'utf8')) as { extensions: { http: { routePrefix: string }, queues: Record<string, unknown> } }
const trigger = (name: string): Binding => {
  const bindings = Object.values(registered.get(name)?.metadata.bindings ?? {})
  const found = bindings.find((b) => b.direction === 'in' && b.type.endsWith('Trigger'))
  if (found === undefined) throw new Error(`${name} has no trigger binding`)
  return found
}
const defaultOf = (name: string): unknown => workerSchema.properties[name]?.default

t.test('three functions are registered: two HTTP triggers on the api\'s routes and a queue trigger', async (t) => {
  t.same([...registered.keys()].sort(), ['getcode', 'signin', 'worker'])
  t.match(trigger('getcode'), { type: 'httpTrigger', methods: ['GET'], route: 'v1/getcode', authLevel: 'anonymous' })
  t.match(trigger('signin'), { type: 'httpTrigger', methods: ['POST'], route: 'v1/signin', authLevel: 'anonymous' })
  t.equal(`/${hostJson.extensions.http.routePrefix}/${String(trigger('getcode').route)}`, '/api/v1/getcode', 'the same URL as the Fastify api')
  t.equal(`/${hostJson.extensions.http.routePrefix}/${String(trigger('signin').route)}`, '/api/v1/signin')
})

t.test('the queue trigger reads the api\'s queue by identity-capable connection, with the container worker\'s rules', async (t) => {
  const queue = trigger('worker')
  t.match(queue, { type: 'queueTrigger', direction: 'in', queueName, connection: TRIGGER_CONNECTION })
  const q = hostJson.extensions.queues
  t.equal(q.messageEncoding, 'base64', 'what the api writes (QUEUE_MESSAGE_ENCODING default)')
  t.equal(functionsSchema.properties.QUEUE_MESSAGE_ENCODING?.default, 'base64')
  t.equal(q.maxDequeueCount, defaultOf('WORKER_MAX_DEQUEUE_COUNT'), 'the container worker\'s maxDequeueCount')
  t.equal(q.batchSize, defaultOf('WORKER_BATCH_SIZE'), 'full receives of 32, as the container worker')
  t.equal(Number(q.batchSize) + Number(q.newBatchThreshold), defaultOf('WORKER_MAX_IN_FLIGHT'), 'at most as many in flight as the container worker')
  t.ok(HOST.maxPollingIntervalMs <= Number(defaultOf('WORKER_MAX_BACKOFF_MS')), 'an idle instance polls at least as often as the container worker')
  t.ok(HOST.visibilityTimeoutSeconds * (HOST.maxDequeueCount - 1) < 600 / 4, 'every retry of an activate fits well inside a code\'s life')
  // The host names its poison queue <queue>-poison; so do the lifecycle and the container worker.
  t.equal(poisonQueueName(queueName), `${queueName}-poison`)
})

t.test('the registered handlers issue a code, activate it and sign it in', async (t) => {
  const getcode = registered.get('getcode')?.callback
  const signin = registered.get('signin')?.callback
  const worker = registered.get('worker')?.callback as QueueHandler
  const unauthenticated = await getcode?.(request({ url: 'http://127.0.0.1/api/v1/getcode?subject=erin' }), invocation('getcode')) as { status: number }
  t.equal(unauthenticated.status, 401, 'the app settings turn caller auth on (AUTH_MODE defaults to entra)')
  const response = await getcode?.(request({ url: 'http://127.0.0.1/api/v1/getcode?subject=erin', headers: { authorization: `Bearer ${await tokenWith('Codes.Issue')}` } }), invocation('getcode')) as { status: number, jsonBody: { code: string } }
  t.equal(response.status, 200)
  const { createQueues } = await import('@codegate/shared/clients')
  const queues = createQueues({ ...config, auth: { kind: 'connection-string', connectionString: parts.azurite.connectionString, queueName } })
  const listener = new QueueListener(queues, worker, HOST)
  t.match(await listener.pollOnce(), { received: 1, succeeded: 1 })
  const approved = await signin?.(jsonRequest({ code: response.jsonBody.code, subject: 'erin' }, { authorization: `Bearer ${await tokenWith('Codes.Verify')}` }), invocation('signin')) as { status: number }
  t.equal(approved.status, 200)
  t.equal((await queues.queue.getProperties()).approximateMessagesCount, 1, 'its expire waits')
})

t.test('with QUEUE_SHARDS=3 the app registers one queue trigger per shard, each on its queue, with the same connection', async (t) => {
  const fromIndex = registered
  registered = new Map()
  t.teardown(() => { registered = fromIndex })
  const base = functionsConfigOf(configFor(parts))
  const fns = registerFunctions(azureFunctions.app, { ...base, enabled: 'worker', api: undefined, queueShards: 3 }, { logStream: { write: () => {} } })
  t.same([...registered.keys()].sort(), ['worker', 'worker-1', 'worker-2'])
  const baseName = fns.queueName
  for (let i = 0; i < 3; i++) {
    t.match(trigger(triggerName(i)), { type: 'queueTrigger', direction: 'in', queueName: shardQueueName(baseName, i), connection: TRIGGER_CONNECTION }, `shard ${i}`)
  }
  t.same(fns.queues.shards.map((q) => q.name), [0, 1, 2].map((i) => shardQueueName(baseName, i)), 'the api sends to the same names')
})

t.test('FUNCTIONS_ENABLED splits the app in two: the HTTP triggers, or the queue trigger', async (t) => {
  const names = (enabled: 'api' | 'worker'): string[] => {
    const seen: string[] = []
    const recorder = { http: (name: string) => { seen.push(name) }, storageQueue: (name: string) => { seen.push(name) } }
    const base = functionsConfigOf(config)
    registerFunctions(recorder, enabled === 'worker' ? { ...base, enabled, api: undefined } : { ...base, enabled }, { logStream: { write: () => {} } })
    return seen
  }
  t.same(names('api'), ['getcode', 'signin'])
  t.same(names('worker'), ['worker'])
})

t.test('the app refuses to load on bad settings, naming the variable', async (t) => {
  const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url))
  const run = async (env: Record<string, string>): Promise<{ code: number | null, stderr: string }> => await new Promise((resolve) => {
    const child = spawn(process.execPath, [entry], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('close', (code) => { resolve({ code, stderr }) })
  })
  const { KEY_VAULT_URL: _, ...withoutVault } = settings
  const { THIRD_PARTY_API_ENDPOINT: __, ...workerOnly } = withoutVault
  // In parallel: each is a Node start, slow on a busy machine.
  const { AUTH_ISSUER: ___, ...withoutIssuer } = settings
  const [missing, text, worker, bad, noIssuer] = await Promise.all([
    run(withoutVault),
    run({ ...settings, QUEUE_MESSAGE_ENCODING: 'text' }),
    run({ ...workerOnly, FUNCTIONS_ENABLED: 'worker', QUEUE_SHARDS: '3' }),
    run({ ...settings, FUNCTIONS_ENABLED: 'both' }),
    run(withoutIssuer)
  ])
  t.not(missing.code, 0)
  t.match(missing.stderr, /KEY_VAULT_URL is required/)
  t.not(text.code, 0)
  t.match(text.stderr, /QUEUE_MESSAGE_ENCODING must be base64/)
  t.notOk(missing.stderr.includes(KEY) || text.stderr.includes(KEY))
  t.equal(worker.code, 0, 'the worker alone needs neither vault, third party nor token issuer; several shards load')
  t.match(bad.stderr, /FUNCTIONS_ENABLED must be equal to one of the allowed values/)
  t.not(noIssuer.code, 0, 'getcode and sign-in are not left open by a forgotten setting')
  t.match(noIssuer.stderr, /AUTH_ISSUER is required with AUTH_MODE=entra/)
})
