/**
 * The worker's typed events out of its process: the real worker process
 * (dist/main.js, so build first), started through the stack's startProcess
 * (env(1) execs node) with an IPC channel, against real Azurite.
 */
import { EventEmitter } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { encodeMessage } from '@codegate/shared'
import { startAzurite, startProcess } from '@codegate/stack'
import { decodeWorkerEvents, type WorkerEventRecord, type WorkerEventsMessage } from '@codegate/shared/worker-events'
import { encodeEvent, forwardEvents } from '../src/event-channel.js'
import type { Worker } from '../src/worker.js'
import { activate, freshNames, storageFor, waitFor, workerConfig, workerEnv } from './fixtures/helpers.js'

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url))
const CODE = 'xKq-417-bZt'

const azurite = await startAzurite()
t.teardown(async () => { await azurite.stop() })

t.test('the worker process sends its typed events to a parent that opened an IPC channel, and nothing of a code', async (t) => {
  const names = freshNames()
  const config = workerConfig(azurite.connectionString, names)
  const { queues } = await storageFor(config)
  const messages: unknown[] = []
  const worker = await startProcess({
    name: 'worker',
    command: process.execPath,
    args: [MAIN],
    // No KEY_VAULT_URL: a message with a code in clear goes to the poison queue.
    env: { PATH: process.env.PATH ?? '', ...workerEnv(azurite.connectionString, names, { LOG_LEVEL: 'info' }) },
    onMessage: (message) => { messages.push(message) }
  })
  t.teardown(async () => { await worker.stop() })
  const events = (): WorkerEventRecord[] => messages.flatMap((m) => { const d = decodeWorkerEvents(m); return d.ok ? d.message.events : [] })

  await waitFor('the worker to start', () => events().some((e) => e.name === 'started'))
  const sent = await queues.queue.sendMessage(encodeMessage(activate(120_000)))
  // The original sample's message: a code in clear.
  const clear = await queues.queue.sendMessage(Buffer.from(JSON.stringify({ code: CODE, timestamp: Date.now() / 1000 })).toString('base64'))
  await waitFor('the activate and the poisoning', () => events().some((e) => e.name === 'activated') && events().some((e) => e.name === 'poisoned'))
  await worker.stop()

  t.same(messages.map((m) => decodeWorkerEvents(m).ok), messages.map(() => true), 'every message decodes')
  t.match(events().find((e) => e.name === 'activated'), { messageId: sent.messageId, dequeueCount: 1, inserted: true, lagMs: Number, lost: false, at: Number })
  t.match(events().find((e) => e.name === 'poisoned'), { messageId: clear.messageId, cause: String, reason: String })
  t.ok(events().some((e) => e.name === 'received' && e.count > 0), 'receives are announced')
  t.equal(events().at(-1)?.name, 'closed', 'the last event, sent before the process exits, is closed')
  t.same(messages.map((m) => (m as WorkerEventsMessage).lost), messages.map(() => 0), 'nothing lost')
  t.notMatch(JSON.stringify(messages), CODE, 'no code in clear crossed the channel')
})

t.test('a failed event crosses with its error reduced and scrubbed, and decodes', async (t) => {
  const err = Object.assign(new Error(`insert of ${CODE} refused`), { code: 'TableBeingDeleted' })
  const failed = encodeEvent('failed', [{ messageId: 'm', dequeueCount: 1, attempt: 1, error: err }], 5)
  t.match(failed, { name: 'failed', at: 5, messageId: 'm', attempt: 1, error: { name: 'Error', code: 'TableBeingDeleted' } })
  t.notMatch(JSON.stringify(failed), CODE)
  t.ok(decodeWorkerEvents({ type: 'worker.events', lost: 0, events: [failed] }).ok)
})

/** A stand-in for the Worker: forwardEvents only listens to its events. */
const emitter = (): Worker => new EventEmitter() as unknown as Worker

t.test('a channel that does not keep up: events beyond the bound are counted as lost, not kept', async (t) => {
  const worker = emitter()
  const sent: WorkerEventsMessage[] = []
  let release: () => void = () => {}
  const forwarder = forwardEvents(worker, {
    connected: true,
    // The first send is held until released: the parent is slow.
    send: (message, done) => { sent.push(message); release = () => { done(null) } }
  }, 10)
  const announce = (n: number): void => { for (let i = 0; i < n; i++) worker.emit('received', { queue: 'q', count: i }) }
  announce(1)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(sent.length, 1, 'the first event went at once')
  announce(25)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(sent.length, 1, 'one message on its way at a time')
  const flushed = forwarder.flush()
  release()
  await new Promise((resolve) => setImmediate(resolve))
  release()
  await flushed
  t.equal(sent.length, 2)
  t.equal(sent[1]?.events.length, 10, 'kept up to the bound')
  t.equal(sent[1]?.lost, 15, 'the rest counted as lost')
  forwarder.detach()
})

t.test('without a connected channel nothing is kept', async (t) => {
  const worker = emitter()
  const sent: WorkerEventsMessage[] = []
  const forwarder = forwardEvents(worker, { connected: false, send: (message, done) => { sent.push(message); done(null) } })
  for (let i = 0; i < 100; i++) worker.emit('closed')
  await forwarder.flush()
  t.same(sent, [])
})
