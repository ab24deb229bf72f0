/**
 * The worker in-process against real Azurite: each test its own queue and
 * table. Waits poll for the outcome with generous bounds (CI has 2 shared
 * cores); no sleep is an assertion.
 */
import t from 'tap'
import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, generateAccountSASQueryParameters, StorageSharedKeyCredential
} from '@azure/storage-queue'
import { connectionStringFor, DEV_ACCOUNT_KEY, startAzurite, startHungEndpoint, startTcpProxy } from '@codegate/stack'
import { checkSignIn, codeIdOf, encodeMessage, encodeSampleMessage, generateCode } from '@codegate/shared'
import { startHealthServer, startWorker, Worker } from '../src/index.js'
import {
  activate,
  captureLogger,
  freshNames,
  heldTable,
  presentCodes,
  queueLength,
  codeHashKeys,
  hasher,
  sendActivates,
  storageFor,
  waitFor,
  workerConfig
} from './fixtures/helpers.js'

const azurite = await startAzurite()
t.teardown(async () => { await azurite.stop() })

t.test('an activate makes the code valid within the idle back-off, and a 2 s code is gone soon after expiry', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames(), { WORKER_MAX_BACKOFF_MS: '1000' })
  const { queues, table } = await storageFor(config)
  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log })
  t.teardown(worker.close)
  // Idle long enough for the back-off to reach its 1 s cap.
  await waitFor('a few empty polls', () => lines.length > 0 && worker.stats.lastPollAt !== undefined)
  await new Promise((resolve) => setTimeout(resolve, 2500))

  // One poll that finds the message: the idle wait (at most the cap) and a receive and an
  // insert, each bounded by the storage timeout. A bound from the config, not a guess.
  const pollBoundMs = config.maxBackoffMs + 2 * config.storageTimeoutMs
  const message = activate(2000)
  await queues.queue.sendMessage(encodeMessage(message))
  const row = await waitFor('the code to be valid', async () => await table.get(message.codeHash), 10_000 + pollBoundMs, 20)
  t.same(checkSignIn(row, undefined, new Date()), { approved: true })
  const activated = await waitFor('the activation to be logged', () => lines.find((l) => l.msg === 'code.activated'))
  t.match(activated, { codeId: codeIdOf(message.codeHash), messageId: String, dequeueCount: 1, lagMs: Number, inserted: true })
  t.comment(`issue → activation: ${String(activated?.lagMs)} ms (cap ${config.maxBackoffMs} ms + storage time)`)
  t.ok(Number(activated?.lagMs) < pollBoundMs, `activated within the back-off cap and the storage timeouts (${pollBoundMs} ms)`)

  await waitFor('the code to be gone', async () => (await table.get(message.codeHash)) === undefined, 15_000 + pollBoundMs)
  // When the worker deleted it (its log line's time), not when this test happened to look.
  const expired = await waitFor('the expiry to be logged', () => lines.find((l) => l.msg === 'code.expired'))
  const deletedAt = Number(expired.time)
  t.ok(deletedAt >= message.expiresAt.getTime(), 'not deleted before expiry')
  // The expire message is hidden until expiry, rounded up to whole seconds, then one poll.
  t.ok(deletedAt < message.expiresAt.getTime() + 1000 + pollBoundMs, `deleted within ${1000 + pollBoundMs} ms after expiry`)
  await waitFor('the queue to be empty', async () => (await queueLength(queues)) === 0)
  t.match(lines.find((l) => l.msg === 'code.expired'), { result: 'deleted', codeId: codeIdOf(message.codeHash), dequeueCount: 2 })
  t.equal(await queueLength(queues, 'poison'), 0)
  t.notOk(JSON.stringify(lines).includes(message.codeHash), 'the whole hash is never logged, only its id')
})

t.test('an activate redelivered after sign-in consumed the code, or after it expired, does not bring it back', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames())
  const { queues, table } = await storageFor(config)
  const worker = await startWorker(config, { logger: captureLogger().log })
  t.teardown(worker.close)

  const consumed = activate(120_000)
  const expiring = activate(2000)
  await queues.queue.sendMessage(encodeMessage(consumed))
  await queues.queue.sendMessage(encodeMessage(expiring))
  await waitFor('both codes valid', async () => (await presentCodes(table, [consumed.codeHash, expiring.codeHash])).size === 2)
  t.match(await table.consume([consumed.codeHash], undefined, new Date()), { approved: true })
  await waitFor('the short code to expire', async () => (await table.get(expiring.codeHash)) === undefined, 20_000)

  const before = { ...worker.stats }
  await queues.queue.sendMessage(encodeMessage(consumed))
  await queues.queue.sendMessage(encodeMessage(expiring))
  await waitFor('both copies handled', () => worker.stats.activated > before.activated && worker.stats.dropped > before.dropped)
  t.same(checkSignIn(await table.get(consumed.codeHash), undefined, new Date()), { approved: false, reason: 'consumed' })
  t.equal(await table.get(expiring.codeHash), undefined)
  t.equal(await queueLength(queues, 'poison'), 0)
})

t.test('two workers on one queue activate every code of a batch exactly once', async (t) => {
  const names = freshNames()
  const config = workerConfig(azurite.connectionString, names, { WORKER_BATCH_SIZE: '16', WORKER_MAX_IN_FLIGHT: '16' })
  const { queues, table } = await storageFor(config)
  const codes = await sendActivates(queues, 300, 300_000)
  const a = captureLogger()
  const b = captureLogger()
  const [wa, wb] = await Promise.all([startWorker(config, { logger: a.log }), startWorker(config, { logger: b.log })])
  t.teardown(async () => { await Promise.all([wa.close(), wb.close()]) })

  await waitFor('every code valid', async () => (await presentCodes(table, codes)).size === codes.length, 60_000, 250)
  await waitFor('both workers idle', () => wa.stats.inFlight === 0 && wb.stats.inFlight === 0)
  const inserts = new Map<string, number>()
  for (const line of [...a.lines, ...b.lines]) {
    if (line.msg === 'code.activated' && line.inserted === true) inserts.set(String(line.messageId), (inserts.get(String(line.messageId)) ?? 0) + 1)
  }
  t.equal(inserts.size, codes.length, 'every message inserted its code')
  t.same([...new Set(inserts.values())], [1], 'and exactly once')
  t.comment(`split: ${wa.stats.activated} + ${wb.stats.activated}`)
  t.ok(wa.stats.activated > 0 && wb.stats.activated > 0, 'both workers took part')
  t.equal(await queueLength(queues, 'poison'), 0)
})

t.test('a message that keeps failing goes to the poison queue after maxDequeueCount tries; garbage at once', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames(), { WORKER_MAX_DEQUEUE_COUNT: '3', WORKER_VISIBILITY_TIMEOUT_SECONDS: '2' })
  const { queues, table } = await storageFor(config)
  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log })
  t.teardown(worker.close)

  // Garbage: poisoned on its first receive.
  await queues.queue.sendMessage('this is not a code message')
  const garbage = await waitFor('garbage in the poison queue', async () =>
    (await queues.poison.receiveMessages({ numberOfMessages: 1 })).receivedMessageItems[0])
  t.match(JSON.parse(Buffer.from(garbage.messageText, 'base64').toString('utf8')), {
    reason: 'unreadable message: message is neither JSON nor base64 JSON',
    dequeueCount: 1,
    messageId: String,
    insertedOn: String,
    text: 'this is not a code message'
  })
  await queues.poison.deleteMessage(garbage.messageId, garbage.popReceipt)

  // A real, lasting failure: the table is gone, so every insert fails.
  await table.client.deleteTable()
  const message = activate(120_000)
  await queues.queue.sendMessage(encodeMessage(message))
  const poisoned = await waitFor('the failing message in the poison queue', async () =>
    (await queues.poison.receiveMessages({ numberOfMessages: 1 })).receivedMessageItems[0], 60_000, 250)
  t.match(JSON.parse(Buffer.from(poisoned.messageText, 'base64').toString('utf8')), {
    reason: /^activate failed 3 times; last error: /,
    dequeueCount: 3,
    text: encodeMessage(message)
  })
  await waitFor('the original to be deleted', async () => (await queueLength(queues)) === 0)
  t.equal(lines.filter((l) => l.msg === 'message.failed').length, 2, 'tries 1 and 2 failed and were released')
  t.match(lines.filter((l) => l.msg === 'message.poisoned'), [{ level: 50 }, { level: 50, codeId: /^[0-9a-f]{8}$/ }])
  t.equal(worker.stats.poisoned, 2)
  t.equal(worker.worker.notReady(), undefined, 'the worker keeps polling')
})

t.test('the original sample\'s Python dict payload activates and then expires', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames(), { CODE_TTL_SECONDS: '3', WORKER_VISIBILITY_TIMEOUT_SECONDS: '1', QUEUE_MESSAGE_ENCODING: 'text' })
  const { queues, table } = await storageFor(config)
  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log, codeHashKeys })
  t.teardown(worker.close)

  const code = generateCode(161)
  await queues.queue.sendMessage(encodeSampleMessage({ code, issuedAt: new Date() }))
  const row = await waitFor('the code to be valid', async () => await table.get(hasher.hash(code)))
  t.same(checkSignIn(row, undefined, new Date()), { approved: true })
  t.equal(row.expiresAt.getTime() - row.issuedAt.getTime(), 3000, 'CODE_TTL_SECONDS applies')
  t.match(lines.find((l) => l.msg === 'code.activated'), { source: 'legacy' })
  await waitFor('the code to be gone', async () => (await table.get(hasher.hash(code))) === undefined, 20_000)
  await waitFor('the queue to be empty', async () => (await queueLength(queues)) === 0)
  t.equal(await queueLength(queues, 'poison'), 0, 'its expire was a proper envelope')
})

t.test('a storage outage: the worker backs off, is not ready, keeps running, and recovers', async (t) => {
  const own = await startAzurite()
  t.teardown(async () => { await own.stop() })
  const config = workerConfig(own.connectionString, freshNames(), { STORAGE_TIMEOUT_MS: '1000' })
  const { queues, table } = await storageFor(config)
  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log, health: true })
  t.teardown(worker.close)
  const probe = async (path: string): Promise<number> => (await fetch(`http://127.0.0.1:${String(worker.healthPort)}${path}`)).status

  t.equal(await probe('/healthz'), 200)
  await waitFor('ready', async () => (await probe('/readyz')) === 200)
  t.equal(await probe('/nope'), 404)

  await own.pause()
  await waitFor('not ready while storage is down', async () => (await probe('/readyz')) === 503, 30_000, 250)
  t.equal(await probe('/healthz'), 200, 'alive all the same')
  t.ok(worker.stats.errors > 0)
  t.ok(lines.some((l) => l.msg === 'poll.failed' && typeof l.retryInMs === 'number'))

  await own.start()
  await waitFor('ready again', async () => (await probe('/readyz')) === 200, 30_000, 250)
  const message = activate(120_000)
  await queues.queue.sendMessage(encodeMessage(message))
  await waitFor('a code activated after the outage', async () => await table.get(message.codeHash))
})

t.test('a table that accepts and never answers: work in flight stays bounded, nothing is lost, and the worker recovers', async (t) => {
  const proxy = await startTcpProxy({ port: azurite.tablePort })
  t.teardown(() => proxy.close())
  const names = freshNames()
  const direct = workerConfig(azurite.connectionString, names, { STORAGE_TIMEOUT_MS: '500' })
  const { queues, table } = await storageFor(direct)
  const config = workerConfig(connectionStringFor('127.0.0.1', azurite.queuePort, proxy.port), names, {
    STORAGE_TIMEOUT_MS: '500',
    WORKER_MAX_IN_FLIGHT: '8',
    WORKER_VISIBILITY_TIMEOUT_SECONDS: '2'
  })
  const worker = await startWorker(config, { logger: captureLogger().log })
  t.teardown(worker.close)

  proxy.hang()
  const codes = await sendActivates(queues, 20, 120_000)
  let most = 0
  await waitFor('failures while the table hangs', () => {
    most = Math.max(most, worker.stats.inFlight)
    return worker.stats.failed >= 8
  }, 30_000, 20)
  t.ok(most <= 8, `at most WORKER_MAX_IN_FLIGHT messages in flight (saw ${most})`)
  t.equal((await presentCodes(table, codes)).size, 0, 'nothing written while it hangs')

  proxy.forward()
  await waitFor('every code activated once the table answers', async () => (await presentCodes(table, codes)).size === codes.length, 60_000, 250)
  t.equal(worker.stats.poisoned, 0, 'none given up on')
})

t.test('close() is idempotent and waits for messages in flight', async (t) => {
  const names = freshNames()
  const config = workerConfig(azurite.connectionString, names)
  const { queues, table } = await storageFor(config)
  // The worker's table answers no insert until the test lets it: close() comes with work in flight, for certain.
  const held = await heldTable(azurite, config, names)
  t.teardown(held.close)
  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log, table: held.table })
  const codes = await sendActivates(queues, 20, 120_000)
  await waitFor('work in flight', () => worker.stats.inFlight > 0, 30_000, 5)
  const inFlight = worker.stats.inFlight
  t.ok(inFlight > 0, `${inFlight} messages in flight when close() is called`)
  let closed = false
  const closing = Promise.all([worker.close(), worker.close()]).then(() => { closed = true })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.notOk(closed, 'close() waits while the inserts are held')
  held.release()
  await closing
  await worker.close()
  t.equal(worker.stats.inFlight, 0)
  t.ok(worker.stats.processed >= inFlight, 'the messages in flight at close were finished')
  t.equal(worker.stats.processed, worker.stats.received, 'everything received was finished')
  t.equal(worker.stats.activated, worker.stats.received, 'by activating their codes')
  t.match(lines.filter((l) => l.msg === 'worker.stopped'), [{ drained: true, abandoned: 0 }])
  // What this worker did not receive is still there for the next one.
  const next = await startWorker(config, { logger: captureLogger().log })
  t.teardown(next.close)
  await waitFor('every code valid', async () => (await presentCodes(table, codes)).size === codes.length)
})

t.test('a queue that accepts connections and never answers: each call ends at the storage timeout, the worker is not ready, and close() still returns', async (t) => {
  const hung = await startHungEndpoint()
  t.teardown(() => hung.close())
  const config = workerConfig(connectionStringFor('127.0.0.1', hung.port, azurite.tablePort), freshNames(), { STORAGE_TIMEOUT_MS: '300' })
  const { log, lines } = captureLogger()
  // start() resolves only once polling has begun, which it cannot: run it in the background.
  const worker = new Worker(config, { logger: log })
  const health = await startHealthServer({ host: '127.0.0.1', port: 0, notReady: () => worker.notReady(), log })
  t.teardown(() => health.close())
  const starting = worker.start()
  const probe = async (path: string): Promise<number> => (await fetch(`http://127.0.0.1:${String(health.port)}${path}`)).status
  // Without a timeout on each call the setup would wait forever and never log a failure.
  const failed = await waitFor('a failed setup call', () => lines.find((l) => l.msg === 'worker.setup.failed'), 30_000, 50)
  t.match(failed, { retryInMs: Number, err: { name: String } })
  t.ok(hung.connections > 0, 'the calls reached the hung endpoint')
  t.equal(await probe('/healthz'), 200, 'alive')
  t.equal(await probe('/readyz'), 503, 'not ready')
  t.ok(worker.stats.errors > 0)
  await worker.close()
  await starting
  t.match(lines.filter((l) => l.msg === 'worker.stopped'), [{ abandoned: 0 }], 'close() returns while storage hangs')
})

t.test('the summary line reports throughput, work in flight and errors', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames(), { WORKER_SUMMARY_INTERVAL_SECONDS: '1' })
  const { queues } = await storageFor(config)
  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log })
  t.teardown(worker.close)
  await sendActivates(queues, 5, 60_000)
  const summary = await waitFor('a summary with work in it', () => lines.find((l) => l.msg === 'worker.summary' && Number(l.activated) > 0))
  t.match(summary, { processedPerSecond: Number, inFlight: Number, errors: 0, ready: true })
})

t.test('an identity that may use the queues and table but not create them (least privilege in Azure) still works', async (t) => {
  const names = freshNames()
  const full = workerConfig(azurite.connectionString, names)
  const { queues, table } = await storageFor(full)
  // An account SAS without create (c) or write (w): Azurite answers 403 to createQueue and createTable.
  const key = new StorageSharedKeyCredential('devstoreaccount1', DEV_ACCOUNT_KEY)
  const sas = generateAccountSASQueryParameters({
    expiresOn: new Date(Date.now() + 3_600_000),
    permissions: AccountSASPermissions.parse('rdlaup'),
    resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
    services: AccountSASServices.parse('qt').toString()
  }, key).toString()
  const restricted = `QueueEndpoint=${azurite.queueEndpoint};TableEndpoint=${azurite.tableEndpoint};SharedAccessSignature=${sas}`
  const { log, lines } = captureLogger()
  const worker = await startWorker(workerConfig(restricted, names), { logger: log })
  t.teardown(worker.close)
  t.ok(lines.some((l) => l.msg === 'not allowed to create queues or table; assuming they exist'), 'the 403 is noted once, not retried')

  const message = activate(120_000)
  await queues.queue.sendMessage(encodeMessage(message))
  await waitFor('the code to be valid', async () => await table.get(message.codeHash))
})
