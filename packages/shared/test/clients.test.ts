/** The client factories: which queue each client talks to, derived from the config alone (no request is sent). */
import t from 'tap'
import { createQueues, queueNameOf } from '../src/clients.js'
import type { StorageConfig } from '../src/config.js'
import { DevTokenCredential } from '../src/credentials.js'

const base = { tableName: 'codes', messageEncoding: 'base64', codeTtlSeconds: 60, storageTimeoutMs: 1000 } as const
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
const connectionString = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;`

t.test('by URL: shard 0 is the configured queue itself, the other shards and the poison queue sit beside it', async (t) => {
  const config: StorageConfig = { ...base, auth: { kind: 'url', queueUrl: 'http://127.0.0.1:10001/devstoreaccount1/code-requests', tableUrl: 'http://127.0.0.1:10002/devstoreaccount1' }, queueShards: 3 }
  const queues = createQueues(config, new DevTokenCredential())
  t.same(queues.shards.map((q) => q.url), [
    'http://127.0.0.1:10001/devstoreaccount1/code-requests',
    'http://127.0.0.1:10001/devstoreaccount1/code-requests-1',
    'http://127.0.0.1:10001/devstoreaccount1/code-requests-2'
  ], 'the account segment Azurite puts in the path is kept')
  t.equal(queues.queue, queues.shards[0])
  t.equal(queues.poison.name, 'code-requests-poison')
  t.equal(queueNameOf(config), 'code-requests')
  t.throws(() => createQueues(config), /credential is required/, 'no credential, no client')
})

t.test('by connection string: the queues are named from STORAGE_QUEUE_NAME', async (t) => {
  const config: StorageConfig = { ...base, auth: { kind: 'connection-string', connectionString, queueName: 'requests' } }
  const queues = createQueues(config)
  t.same(queues.shards.map((q) => q.name), ['requests'], 'one shard unless QUEUE_SHARDS says more')
  t.equal(queues.poison.name, 'requests-poison')
  t.equal(queueNameOf(config), 'requests')
})
