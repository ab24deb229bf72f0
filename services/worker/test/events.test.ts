/**
 * The worker's typed events, against real Azurite: what listeners (metrics,
 * tools) learn without reading a log line.
 */
import { once } from 'node:events'
import t from 'tap'
import { startAzurite } from '@codegate/stack'
import { encodeMessage } from '@codegate/shared'
import { startWorker, type WorkerEvents } from '../src/index.js'
import { activate, captureLogger, freshNames, storageFor, waitFor, workerConfig } from './fixtures/helpers.js'

const azurite = await startAzurite()
t.teardown(async () => { await azurite.stop() })

type Seen = { [K in keyof WorkerEvents]: WorkerEvents[K][] }

t.test('the worker announces activations, expiries, poison, failures, receives and its close as typed events', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames())
  const { queues, table } = await storageFor(config)
  const running = await startWorker(config, { logger: captureLogger().log })
  t.teardown(running.close)
  const seen: Seen = { started: [], activated: [], expired: [], requeued: [], dropped: [], poisoned: [], failed: [], received: [], closed: [] }
  for (const name of Object.keys(seen) as Array<keyof WorkerEvents>) {
    running.worker.on(name, (...args: unknown[]) => { (seen[name] as unknown[][]).push(args) })
  }

  const message = activate(1500)
  const sent = await queues.queue.sendMessage(encodeMessage(message))
  await queues.queue.sendMessage('not a code message')
  await waitFor('the code to expire', () => seen.expired.length > 0 && seen.poisoned.length > 0, 20_000)

  t.match(seen.activated, [[{ messageId: sent.messageId, dequeueCount: 1, inserted: true, lagMs: Number, lost: false }]])
  t.match(seen.expired, [[{ messageId: sent.messageId, dequeueCount: 2, result: 'deleted', lateMs: Number, lost: false }]])
  t.ok((seen.expired[0]?.[0].lateMs ?? -1) >= 0, 'never deleted before expiry')
  t.match(seen.poisoned, [[{ messageId: String, dequeueCount: 1, cause: 'unreadable', reason: /^unreadable message/ }]])
  t.ok(seen.received.some(([r]) => r.count > 0 && r.queue === queues.queue.name), 'receives say their batch size')
  t.ok(seen.received.some(([r]) => r.count === 0), 'empty receives are announced too')

  // A real failure: the table is gone, so the insert fails and the message is released.
  await table.client.deleteTable()
  await queues.queue.sendMessage(encodeMessage(activate(120_000)))
  const [failed] = await once(running.worker, 'failed') as WorkerEvents['failed']
  t.match(failed, { messageId: String, dequeueCount: 1, attempt: 1 })
  t.type(failed.error, Error)

  await running.close()
  t.equal(seen.closed.length, 1, 'closed once')
  const payloads = JSON.stringify([seen.activated, seen.expired, seen.poisoned, seen.received])
  t.notOk(payloads.includes(message.codeHash), 'no event carries the code, nor its hash')
})
