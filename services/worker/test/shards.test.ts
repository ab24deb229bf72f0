/**
 * A worker with several queue shards, in-process against real Azurite: it
 * reads every shard, gives each its turn however deep another one is, keeps
 * a code's expire in the shard it came from, and poisons into the one shared
 * poison queue.
 */
import t from 'tap'
import { startAzurite } from '@codegate/stack'
import { encodeMessage, type Queues } from '@codegate/shared'
import { startWorker } from '../src/index.js'
import { activate, captureLogger, freshNames, presentCodes, queueLength, storageFor, waitFor, workerConfig } from './fixtures/helpers.js'

const azurite = await startAzurite()
t.teardown(async () => { await azurite.stop() })

async function createShards (queues: Queues): Promise<void> {
  await Promise.all(queues.shards.map(async (q) => await q.createIfNotExists()))
}

const lengthOf = async (queue: Queues['queue']): Promise<number> => (await queue.getProperties()).approximateMessagesCount ?? -1

t.test('every shard is read; an expire stays in its shard; garbage from any shard reaches the one poison queue', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames(), { QUEUE_SHARDS: '3' })
  const { queues, table } = await storageFor(config)
  await createShards(queues)
  t.equal(queues.shards.length, 3)
  const messages = queues.shards.map(() => activate(120_000))
  await Promise.all(queues.shards.map(async (q, i) => await q.sendMessage(encodeMessage(messages[i]!))))
  await queues.shards[2]!.sendMessage('not a code message')

  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log })
  t.teardown(worker.close)
  const codes = messages.map((m) => m.codeHash)
  await waitFor('the code of every shard to be valid', async () => (await presentCodes(table, codes)).size === codes.length)
  await waitFor('the garbage to be poisoned', async () => (await queueLength(queues, 'poison')) === 1)
  await waitFor('the worker to be idle', () => worker.stats.inFlight === 0)
  // Each shard still holds its own code's message, now a hidden expire; the garbage is gone from shard 2.
  t.same(await Promise.all(queues.shards.map(lengthOf)), [1, 1, 1])
  t.equal(worker.stats.activated, 3)
  t.equal(worker.stats.poisoned, 1)
  t.same(lines.find((l) => l.msg === 'worker.started')?.shards, queues.shards.map((q) => q.name))
})

t.test('a deep shard does not starve the others: each gets a receive in turn', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames(), { QUEUE_SHARDS: '2', WORKER_BATCH_SIZE: '4', WORKER_MAX_IN_FLIGHT: '8' })
  const { queues } = await storageFor(config)
  await createShards(queues)
  const deep = Array.from({ length: 200 }, () => activate(300_000))
  for (let i = 0; i < deep.length; i += 20) await Promise.all(deep.slice(i, i + 20).map(async (m) => await queues.shards[0]!.sendMessage(encodeMessage(m))))
  const lone = activate(300_000)
  const { messageId } = await queues.shards[1]!.sendMessage(encodeMessage(lone))

  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log })
  t.teardown(worker.close)
  await waitFor('the lone code to be activated', () => lines.some((l) => l.msg === 'code.activated' && l.messageId === messageId), 60_000)
  const before = lines.filter((l) => l.msg === 'code.activated').findIndex((l) => l.messageId === messageId)
  t.comment(`the lone shard's code was activation number ${before + 1} of ${deep.length + 1}`)
  // Reading the deep shard until empty first would make it number 201; in turn it is in the first two batches (8).
  t.ok(before < 24, `activated among the first batches (number ${before + 1})`)
  await waitFor('the deep shard to be done', () => worker.stats.activated === deep.length + 1, 60_000)
})

