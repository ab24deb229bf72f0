/** getcode with several queue shards: each code's message goes to the shard its hash picks, and /readyz checks every shard. */
import t from 'tap'
import { createQueues } from '@codegate/shared/clients'
import { decodeMessage } from '@codegate/shared/message'
import { shardOf } from '@codegate/shared/shards'
import { setTimeout as sleep } from 'node:timers/promises'
import { READINESS_CACHE_MS } from '../src/plugins/app/readiness.js'
import { appFor, azuriteFor, configFor, numberApiFor, vaultFor, hasher, type Parts } from './fixtures/parts.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }

t.test('each code is queued on the shard its hash picks, and every shard gets codes', async (t) => {
  const config = configFor(parts, { queueShards: 3 })
  const { app } = await appFor(t, config)
  const issued: string[] = []
  for (let i = 0; i < 30; i++) {
    const res = await app.inject('/api/v1/getcode')
    t.equal(res.statusCode, 200)
    issued.push(res.json().code)
  }
  const { shards } = createQueues(config)
  const found = new Map<string, number>()
  for (const [index, shard] of shards.entries()) {
    for (;;) {
      const { receivedMessageItems } = await shard.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 })
      if (receivedMessageItems.length === 0) break
      for (const item of receivedMessageItems) found.set(decodeMessage(item.messageText, config.codeTtlSeconds).message.codeHash, index)
    }
  }
  t.same([...found.keys()].sort(), issued.map((c) => hasher.hash(c)).sort(), 'every code queued once')
  for (const code of issued) t.equal(found.get(hasher.hash(code)), shardOf(hasher.hash(code), 3))
  t.same(new Set(found.values()), new Set([0, 1, 2]), '30 codes reach all 3 shards')
})

t.test('/readyz fails when a shard other than the first is missing and cannot be created', async (t) => {
  const config = configFor(parts, { queueShards: 2 })
  const { app } = await appFor(t, config)
  t.equal((await app.inject('/readyz')).statusCode, 200)
  await createQueues(config).shards[1]!.delete()
  // Past the first answer's cache, so the second probe asks the queues again.
  await sleep(READINESS_CACHE_MS + 100)
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 503)
  t.equal(res.json().checks.queue.ok, false)
})
