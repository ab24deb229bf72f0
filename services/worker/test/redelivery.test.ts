/**
 * Crash and redelivery against real Azurite, not the fake queue of
 * packages/shared/test/lifecycle.test.ts: a 1 s visibility timeout and a table
 * held back by a proxy make the message come back to someone else while the
 * worker still works on it, so its "not ours any more" path meets Azurite's
 * real answer to a stale pop receipt.
 */
import t from 'tap'
import { encodeMessage } from '@codegate/shared'
import { startAzurite } from '@codegate/stack'
import { startWorker } from '../src/index.js'
import { activate, captureLogger, freshNames, heldTable, storageFor, waitFor, workerConfig } from './fixtures/helpers.js'

const azurite = await startAzurite()
t.teardown(async () => { await azurite.stop() })

t.test('a message received again elsewhere while the worker was slow: the worker finishes, says it was lost, and leaves the other copy alone', async (t) => {
  const names = freshNames()
  // One message in flight at most, so the worker does not receive its own message again.
  const config = workerConfig(azurite.connectionString, names, { WORKER_VISIBILITY_TIMEOUT_SECONDS: '1', WORKER_MAX_IN_FLIGHT: '1', WORKER_BATCH_SIZE: '1' })
  const { queues, table } = await storageFor(config)
  const held = await heldTable(azurite, config, names)
  t.teardown(held.close)
  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log, table: held.table })
  t.teardown(worker.close)

  const message = activate(120_000)
  await queues.queue.sendMessage(encodeMessage(message))
  await waitFor('the worker to hold the message', () => worker.stats.received === 1 && worker.stats.inFlight === 1, 60_000, 20)
  // Its 1 s visibility runs out while the insert is held: another consumer gets it.
  const again = await waitFor('the message to come back to another consumer', async () =>
    (await queues.queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 120 })).receivedMessageItems[0], 60_000, 200)
  t.equal(again.dequeueCount, 2, 'received a second time')

  held.release()
  const activated = await waitFor('the worker to finish', () => lines.find((l) => l.msg === 'code.activated'), 60_000, 20)
  t.match(activated, { inserted: true, lost: true }, 'the row is written; the stale pop receipt is recognised, not an error')
  t.equal(worker.stats.errors, 0, 'no failure, no retry')
  t.equal(worker.stats.poisoned, 0)
  t.ok(await table.get(message.codeHash), 'the code is valid')
  // The worker neither deleted nor rewrote the other consumer's copy: its pop receipt still works.
  await queues.queue.deleteMessage(again.messageId, again.popReceipt)
  t.pass('the other consumer\'s copy was still its own')
})
