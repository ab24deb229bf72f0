/**
 * infra/deploy.sh end to end against the stand-in az (fixtures/fake-az.ts):
 * a fresh deployment, then the same command again. Asserts the calls made,
 * where secrets travel, and the least-privilege roles.
 */
import t from 'tap'
import { FakeAz, INSIGHTS_CONNECTION_STRING, type Call } from './fixtures/fake-az.js'
import { DEPLOY_ENV, runScript } from './fixtures/run-script.js'

const KEY = 'function-key-7f3a9c'
const SHARED_KEY = 'LA-shared-key-Zm9vYmFy=='

const az = await new FakeAz({ sharedKey: SHARED_KEY }).start()
t.teardown(async () => { await az.close() })

/** `az rest` calls of a method whose URL contains `part`. */
const rest = (calls: Call[], method: string, part: string): Call[] => calls.filter((c) =>
  c.args[0] === 'rest' && c.args[c.args.indexOf('--method') + 1] === method && (c.args[c.args.indexOf('--url') + 1] ?? '').includes(part))

const roleOf = (principal: string): string[] => az.state.roles
  .filter((a) => a.principalId === principal)
  .map((a) => `${a.role} @ ${a.scope.replace(/^.*\/providers\//, '')}`)
  .sort()

t.test('a fresh deployment creates everything, each app with an identity and roles of its own', async (t) => {
  const run = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY }, az)
  t.equal(run.code, 0, 'deploys', { stderr: run.stderr })
  t.match(run.stdout, /codegate is deployed\.\n\s+api:\s+https:\/\/api\.example\.azurecontainerapps\.io/)
  t.same(az.calls.filter((c) => c.exit === 2), [], 'no command the stand-in does not know')
  t.same(az.find('ad'), [], 'no Microsoft Graph call')

  t.same(az.state.groups['codegate-rg'], { name: 'codegate-rg', location: 'westeurope', tags: { app: 'codegate' } }, 'a new group, tagged')
  const names = Object.values(az.state.resources).map((r) => `${r.type}:${r.name}`).sort()
  for (const name of ['queue:code-requests', 'queue:code-requests-poison', 'table:codes', 'table:signinlimits',
    'identity:codegate-api-identity', 'identity:codegate-worker-identity', 'app:api', 'app:worker', 'environment:codegate-env']) {
    t.ok(names.includes(name), `${name} exists`)
  }
  t.notOk(names.includes('identity:codegate-identity'), 'no shared identity')

  const identity = (name: string): { id: string, principalId: string, clientId: string } =>
    Object.values(az.state.resources).find((r) => r.name === name) as unknown as { id: string, principalId: string, clientId: string }
  const api = identity('codegate-api-identity')
  const worker = identity('codegate-worker-identity')
  const storage = 'Microsoft.Storage/storageAccounts/codegate140b30a1'
  t.same(roleOf(api.principalId), [
    'AcrPull @ Microsoft.ContainerRegistry/registries/codegatecr140b30a1',
    'Key Vault Secrets User @ Microsoft.KeyVault/vaults/codegate-kv-140b30a1/secrets/code-hash-key',
    'Key Vault Secrets User @ Microsoft.KeyVault/vaults/codegate-kv-140b30a1/secrets/third-party-api-key',
    `Storage Queue Data Message Sender @ ${storage}/queueServices/default/queues/code-requests`,
    `Storage Table Data Contributor @ ${storage}/tableServices/default/tables/codes`,
    `Storage Table Data Contributor @ ${storage}/tableServices/default/tables/signinlimits`
  ], 'api: send to the queue, its two tables, its two secrets, pull')
  t.same(roleOf(worker.principalId), [
    'AcrPull @ Microsoft.ContainerRegistry/registries/codegatecr140b30a1',
    'Key Vault Secrets User @ Microsoft.KeyVault/vaults/codegate-kv-140b30a1/secrets/code-hash-key',
    `Storage Queue Data Message Processor @ ${storage}/queueServices/default/queues/code-requests`,
    `Storage Queue Data Message Sender @ ${storage}/queueServices/default/queues/code-requests-poison`,
    `Storage Queue Data Reader @ ${storage}/queueServices/default/queues/code-requests`,
    `Storage Table Data Contributor @ ${storage}/tableServices/default/tables/codes`
  ], 'worker: process the queue (and read its length), send to the poison queue, the codes table, read the code hash key only')
  t.ok(az.state.roles.every((a) => a.principalType === 'ServicePrincipal'), 'identities are assigned as service principals (no Graph lookup)')

  // The secret: through stdin, by a deployer whose vault role is gone afterwards.
  const vault = Object.values(az.state.resources).find((r) => r.type === 'vault') as unknown as { secrets: Record<string, string> }
  t.same(Object.keys(vault.secrets).sort(), ['code-hash-key', 'third-party-api-key'])
  t.equal(vault.secrets['third-party-api-key'], KEY, 'the key is stored')
  const hashKey = vault.secrets['code-hash-key'] ?? ''
  t.equal(Buffer.from(hashKey, 'base64').length, 32, 'the code hash key: 32 random bytes, base64')
  t.same(az.find('keyvault', 'secret', 'set').map((c) => c.stdin), [KEY, hashKey], 'each written once, from stdin')
  t.same(roleOf('11111111-1111-1111-1111-111111111111'), [], 'the deployer keeps no Key Vault role')
  t.equal(az.find('role', 'assignment', 'delete').length, 1, 'its temporary role was removed')

  // The Log Analytics key: in a body file, never on a command line.
  const environmentPut = rest(az.calls, 'put', '/managedEnvironments/')[0]
  t.match(environmentPut?.bodyFile ?? '', SHARED_KEY, 'the environment is created with the shared key from a body file')
  for (const secret of [KEY, SHARED_KEY, hashKey, INSIGHTS_CONNECTION_STRING]) {
    t.notOk(az.calls.some((c) => c.args.some((a) => a.includes(secret))), `${secret.slice(0, 6)}… is on no command line`)
    t.notOk((run.stderr + run.stdout).includes(secret), `${secret.slice(0, 6)}… is in no output`)
  }
  const workspace = Object.values(az.state.resources).find((r) => r.type === 'workspace')
  t.match(workspace, { quota: '3', retention: '30' }, 'Log Analytics has a daily cap')

  // Application Insights: workspace-based, on that workspace; its connection string a secret of each app.
  const insights = Object.values(az.state.resources).filter((r) => r.type === 'insights')
  t.same(insights.map((r) => r.name), ['codegate-insights'], 'one Application Insights component')
  t.match(insights[0]?.body, { kind: 'web', properties: { Application_Type: 'web', WorkspaceResourceId: workspace?.id, IngestionMode: 'LogAnalytics' } },
    'workspace-based, on the Log Analytics workspace the environment logs to')
  t.ok(az.state.registered.includes('Microsoft.Insights'), 'its resource provider is registered')
  for (const name of ['api', 'worker']) {
    const app = Object.values(az.state.resources).find((r) => r.type === 'app' && r.name === name) as unknown as { body: AppBody }
    t.same(app.body.properties.configuration.secrets, [{ name: 'appinsights-connection-string', value: INSIGHTS_CONNECTION_STRING }], `${name}: the connection string is a Container Apps secret`)
    const env = app.body.properties.template.containers[0]!.env.filter((e) => e.name === 'APPLICATIONINSIGHTS_CONNECTION_STRING')
    t.same(env, [{ name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', secretRef: 'appinsights-connection-string' }], `${name}: its variable names the secret, holds no value`)
    t.equal(app.body.properties.template.containers[0]!.env.find((e) => e.name === 'TRACES_SAMPLE_RATIO')?.value, '0.05', `${name} keeps 5 % of traces`)
    const puts = rest(az.calls, 'put', `/containerApps/${name}`)
    t.ok(puts.length > 0 && puts.every((c) => c.bodyFile !== undefined), `${name}: its body (with the secret) is sent from a file`)
  }

  // The apps: sizes, identities, the revision waited on.
  for (const name of ['api', 'worker']) {
    const app = Object.values(az.state.resources).find((r) => r.type === 'app' && r.name === name) as unknown as { body: AppBody }
    const own = name === 'api' ? api : worker
    t.same(Object.keys(app.body.identity.userAssignedIdentities), [own.id], `${name} runs as its own identity`)
    t.equal(app.body.properties.configuration.registries[0]?.identity, own.id, `${name} pulls as its own identity`)
    const container = app.body.properties.template.containers[0]!
    t.same(container.resources, { cpu: 0.25, memory: '0.5Gi' }, `${name}: 0.25 vCPU / 0.5 GiB`)
    t.equal(container.env.find((e) => e.name === 'AZURE_CLIENT_ID')?.value, own.clientId, `${name} names its identity's client id`)
    t.equal(container.env.find((e) => e.name === 'CODE_HASH_SECRET_NAME')?.value, 'code-hash-key', `${name} names the code hash key`)
    t.equal(container.env.find((e) => e.name === 'KEY_VAULT_URL')?.value, 'https://codegate-kv-140b30a1.vault.azure.net', `${name} reads it from the vault`)
    t.equal(app.body.properties.template.revisionSuffix, 'rtest1', `${name}: the revision suffix is set`)
    const healthPolls = rest(az.calls, 'get', `/containerApps/${name}/revisions/`)
    t.ok(healthPolls.length > 0 && healthPolls.every((c) => c.args.some((a) => a.includes(`/revisions/${name}--rtest1`))), `${name}: the health wait reads the new revision only`)
  }
  const worker_ = Object.values(az.state.resources).find((r) => r.type === 'app' && r.name === 'worker') as unknown as { body: AppBody }
  t.same(worker_.body.properties.template.scale.rules, [{
    name: 'backlog-0',
    custom: {
      type: 'azure-queue',
      metadata: { accountName: 'codegate140b30a1', queueName: 'code-requests', queueLength: '32', queueLengthStrategy: 'visibleonly' },
      identity: worker.id
    }
  }], 'the worker scales on its queue\'s visible backlog as its own identity, 32 messages a replica')
  const api_ = Object.values(az.state.resources).find((r) => r.type === 'app' && r.name === 'api') as unknown as { body: AppBody }
  t.equal(api_.body.properties.template.containers[0]?.env.find((e) => e.name === 'LOG_REQUESTS')?.value, 'false', 'the api logs code events, not requests')
  t.equal(api_.body.properties.template.containers[0]?.env.find((e) => e.name === 'SIGNIN_LIMITS_TABLE_NAME')?.value, 'signinlimits', 'the api uses the limits table it may write')
})

t.test('running it again changes nothing it does not have to, and needs no key', async (t) => {
  const before = az.calls.length
  const roles = az.state.roles.length
  const run = await runScript('deploy.sh', { ...DEPLOY_ENV, REVISION_SUFFIX: 'rtest2' }, az)
  t.equal(run.code, 0, 'deploys', { stderr: run.stderr })
  const calls = az.calls.slice(before)
  const creates = calls.filter((c) => c.args.includes('create') && ['group', 'keyvault', 'acr', 'role'].includes(c.args[0]!)).map((c) => c.args.slice(0, 3).join(' '))
  t.same(creates, [], 'no group, vault, registry or role assignment created again')
  t.equal(az.state.roles.length, roles, 'the same role assignments')
  t.same(calls.filter((c) => c.args[1] === 'secret' || (c.args[0] === 'role' && c.args[2] === 'delete')), [], 'the existing secret is kept without a vault role')
  t.match(run.stderr, /secret third-party-api-key exists; kept/)
  t.match(run.stderr, /secret code-hash-key exists; kept/, 'the code hash key is never replaced by a re-run')
  t.match(run.stderr, /key vault \S+ exists/)
  t.same(rest(calls, 'put', '/managedEnvironments/'), [], 'the environment is not re-created')
  t.same(rest(calls, 'put', '/components/'), [], 'Application Insights is reused, not re-created')
  t.match(run.stderr, /application insights codegate-insights exists; reused/)
  const worker = Object.values(az.state.resources).find((r) => r.type === 'app' && r.name === 'worker') as unknown as { body: AppBody }
  t.same(worker.body.properties.configuration.secrets, [{ name: 'appinsights-connection-string', value: INSIGHTS_CONNECTION_STRING }], 'and its connection string still reaches the apps')
  t.ok(rest(calls, 'get', '/revisions/api--rtest2').length > 0, 'the new revision is the one waited on')
  t.same(rest(calls, 'get', '/revisions/api--rtest1'), [], 'not the previous one')
})

// APP_INSIGHTS=false renders the apps without the secret: packages/stack/test/compose.test.ts.
t.test('APP_INSIGHTS other than true or false, or a TRACE_SAMPLE_RATIO outside 0..1, is refused before anything is made', async (t) => {
  const fresh = await new FakeAz().start()
  t.teardown(async () => { await fresh.close() })
  const bad = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, APP_INSIGHTS: 'yes' }, fresh)
  t.equal(bad.code, 1)
  t.match(bad.stderr, 'APP_INSIGHTS must be true or false')
  t.same(fresh.calls, [], 'no az call')
  const ratio = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, TRACE_SAMPLE_RATIO: '5%' }, fresh)
  t.equal(ratio.code, 1)
  t.match(ratio.stderr, 'TRACE_SAMPLE_RATIO must be a number from 0 to 1')
})

interface AppBody {
  identity: { userAssignedIdentities: Record<string, object> }
  properties: {
    configuration: { registries: { identity: string }[], secrets?: { name: string, value: string }[] }
    template: {
      revisionSuffix: string
      containers: { resources: object, env: { name: string, value?: string, secretRef?: string }[] }[]
      scale: { rules: object[] }
    }
  }
}
