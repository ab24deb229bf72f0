/** infra/deploy.sh with the queue split into shards, against the stand-in az. */
import t from 'tap'
import { DEPLOY_ENV, runScript } from './fixtures/run-script.js'

const KEY = 'function-key-7f3a9c'

t.test('every shard is created, scaled on as the worker, and each app has its queue role on every shard', async (t) => {
  const run = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, QUEUE_SHARDS: '3' })
  t.teardown(async () => { await run.az.close() })
  t.equal(run.code, 0, 'deploys', { stderr: run.stderr })
  const resources = Object.values(run.az.state.resources) as unknown as { type: string, name: string, id: string, principalId: string, body?: any }[] // eslint-disable-line @typescript-eslint/no-explicit-any -- ARM JSON
  const shards = ['code-requests', 'code-requests-1', 'code-requests-2']
  const queues = resources.filter((r) => r.type === 'queue').map((r) => r.name).sort()
  t.same(queues, [...shards, 'code-requests-poison'].sort(), 'the shards and the poison queue')

  const identity = (name: string): { id: string, principalId: string } => resources.find((r) => r.name === name) as { id: string, principalId: string }
  const scopesOf = (principal: string, role: string): string[] => run.az.state.roles
    .filter((a) => a.principalId === principal && a.role === role)
    .map((a) => a.scope.replace(/^.*\/queues\//, ''))
    .sort()
  const api = identity('codegate-api-identity')
  const worker = identity('codegate-worker-identity')
  t.same(scopesOf(api.principalId, 'Storage Queue Data Message Sender'), shards, 'the api may send to every shard, nothing else')
  t.same(scopesOf(worker.principalId, 'Storage Queue Data Message Processor'), shards, 'the worker processes every shard')
  t.same(scopesOf(worker.principalId, 'Storage Queue Data Reader'), shards, 'and may read each one\'s length')
  t.same(scopesOf(worker.principalId, 'Storage Queue Data Message Sender'), ['code-requests-poison'], 'it sends only to the poison queue')

  const app = (name: string): any => resources.find((r) => r.type === 'app' && r.name === name)?.body // eslint-disable-line @typescript-eslint/no-explicit-any -- ARM JSON
  const rules = app('worker').properties.template.scale.rules as { name: string, custom: { metadata: { queueName: string }, identity: string } }[]
  t.same(rules.map((r) => [r.name, r.custom.metadata.queueName, r.custom.identity]),
    shards.map((q, i) => [`backlog-${i}`, q, worker.id]), 'one backlog rule per shard, read as the worker\'s identity')
  for (const name of ['api', 'worker']) {
    const env = app(name).properties.template.containers[0].env as { name: string, value: string }[]
    t.equal(env.find((e) => e.name === 'QUEUE_SHARDS')?.value, '3', `${name} knows the shards`)
  }
})

t.test('a leftover WORKER_QUEUE_LENGTH is refused, naming what replaced it', async (t) => {
  const run = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, WORKER_QUEUE_LENGTH: '20000' })
  t.teardown(async () => { await run.az.close() })
  t.not(run.code, 0, 'refuses')
  t.match(run.stderr, /WORKER_QUEUE_LENGTH is no longer used.*WORKER_BACKLOG_PER_REPLICA/)
  t.same(run.az.calls.filter((c) => c.args.includes('create') || c.args[0] === 'rest'), [], 'before creating anything')
})
