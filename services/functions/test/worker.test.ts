/**
 * The queue trigger, invoked with real messages from Azurite by a stand-in
 * for the host's queue listener (test/fixtures/host.ts): activate, expire,
 * duplicates, redeliveries, poison. Codes live a few seconds so expires come
 * back within the test.
 */
import t from 'tap'
import { encodeMessage, encodeSampleMessage, formatTimestamp, generateCode, type CodeMessage } from '@codegate/shared'
import { codeIdOf } from '@codegate/shared/code-hash'
import { checkSignIn } from '@codegate/shared/codes-table'
import { decodeMessage } from '@codegate/shared/message'
import { shardOf } from '@codegate/shared/shards'
import { azuriteFor, configFor, functionsFor, hasher, HOST, numberApiFor, vaultFor, type Parts } from './fixtures/parts.js'
import { invocation, peekTexts, QueueListener, queueLength } from './fixtures/host.js'

const parts: Parts = {
  azurite: await azuriteFor(t),
  vault: await vaultFor(t),
  numberApi: await numberApiFor(t)
}

function activate (ttlMs: number, issuedAt = new Date()): CodeMessage {
  return { v: 2, phase: 'activate', codeHash: hasher.hash(generateCode(1 + Math.floor(Math.random() * 1000))), issuedAt, expiresAt: new Date(issuedAt.getTime() + ttlMs) }
}

/** The trigger as the host invokes it for a message it received for the `dequeueCount`-th time. */
const trigger = (text: string, dequeueCount = 1): ReturnType<typeof invocation> =>
  invocation('worker', { id: `m-${Math.random()}`, dequeueCount, insertionTime: new Date().toISOString(), queueTrigger: text })

t.test('an activate inserts the row and sends its expire hidden until expiry; the expire deletes the row', async (t) => {
  const { fns, listener, logs } = await functionsFor(configFor(parts))
  const message = activate(6000)
  await fns.queues.queue.sendMessage(encodeMessage(message))
  const first = await listener.pollOnce()
  t.match(first, { received: 1, succeeded: 1 })
  const row = await fns.codesTable.get(message.codeHash)
  // Checked at the issue time, not now: on a loaded machine the 6 s code may already have lapsed.
  t.same(checkSignIn(row, undefined, message.issuedAt), { approved: true })
  t.equal(await queueLength(fns.queues), 1, 'the activate is gone, one expire waits')
  const peeked = await peekTexts(fns.queues)
  if (Date.now() < message.expiresAt.getTime() - 1000) t.same(peeked, [], 'the expire is hidden')
  else t.comment('the machine was too slow to see the expire hidden before the code lapsed')

  await listener.runUntil('the row to be deleted', async () => await fns.codesTable.get(message.codeHash) === undefined, 15_000)
  t.equal(await queueLength(fns.queues), 0, 'nothing left in the queue')
  t.ok(logs.some((l) => l.includes('"msg":"code.expired"') && l.includes('"result":"deleted"')))
  t.notOk(logs.join('').includes(message.codeHash), 'the code\'s hash is never logged whole, only its id')
  t.ok(logs.some((l) => l.includes('"msg":"code.activated"') && l.includes(`"codeId":"${codeIdOf(message.codeHash)}"`)), 'the code is named by its id')
})

t.test('the expire it sends is a new message whose tries count from one', async (t) => {
  const { fns } = await functionsFor(configFor(parts))
  const message = activate(3000)
  // Activated on its third delivery (two failed before): the expire must not inherit those tries.
  const outcome = await fns.worker(JSON.parse(Buffer.from(encodeMessage(message), 'base64').toString('utf8')), trigger('', 3))
  t.match(outcome, { kind: 'activated', inserted: true })
  // Waits for it to become visible, then takes it.
  let expire: Awaited<ReturnType<typeof fns.queues.queue.receiveMessages>>['receivedMessageItems'][number] | undefined
  while (expire === undefined) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    expire = (await fns.queues.queue.receiveMessages({ visibilityTimeout: 30 })).receivedMessageItems[0]
  }
  t.ok(expire)
  const text = Buffer.from(expire?.messageText ?? '', 'base64').toString('utf8')
  const decoded = decodeMessage(text, 600)
  t.match(decoded.message, { phase: 'expire', codeHash: message.codeHash, etag: String })
  t.equal(expire?.dequeueCount, 1)
  t.equal(decoded.receivesBefore ?? 0, 0, 'no receives are marked as done before it')
})

t.test('a duplicate activate leaves one row; the two expires delete it once', async (t) => {
  const { fns, listener, logs } = await functionsFor(configFor(parts))
  const message = activate(5000)
  await fns.queues.queue.sendMessage(encodeMessage(message))
  await fns.queues.queue.sendMessage(encodeMessage(message))
  await listener.runUntil('both activates', async () => await queueLength(fns.queues) === 2 && (await peekTexts(fns.queues)).length === 0)
  t.ok(await fns.codesTable.get(message.codeHash))
  await listener.runUntil('both expires', async () => await queueLength(fns.queues) === 0, 15_000)
  t.equal(await fns.codesTable.get(message.codeHash), undefined)
  const results = logs.filter((l) => l.includes('"msg":"code.expired"')).map((l) => (JSON.parse(l) as { result: string }).result).sort()
  t.same(results, ['absent', 'deleted'])
})

t.test('an activate redelivered after its expire was sent (the host did not delete it) sends a second expire and changes nothing', async (t) => {
  const { fns } = await functionsFor(configFor(parts))
  const message = activate(600_000)
  const entry = JSON.parse(Buffer.from(encodeMessage(message), 'base64').toString('utf8')) as unknown
  const first = await fns.worker(entry, trigger('', 1))
  const row = await fns.codesTable.get(message.codeHash)
  const again = await fns.worker(entry, trigger('', 2))
  t.match(first, { kind: 'activated', inserted: true })
  t.match(again, { kind: 'activated', inserted: false })
  t.equal((await fns.codesTable.get(message.codeHash))?.etag, row?.etag, 'the row is untouched')
  t.equal(await queueLength(fns.queues), 2, 'two expires wait')
})

t.test('a redelivered activate of a code signed in meanwhile does not make it usable again', async (t) => {
  const { fns } = await functionsFor(configFor(parts))
  const message = activate(600_000)
  const entry = JSON.parse(Buffer.from(encodeMessage(message), 'base64').toString('utf8')) as unknown
  await fns.worker(entry, trigger('', 1))
  t.match(await fns.codesTable.consume([message.codeHash], undefined, new Date()), { approved: true })
  await fns.worker(entry, trigger('', 2))
  t.match(await fns.codesTable.consume([message.codeHash], undefined, new Date()), { approved: false, reason: 'consumed' })
})

t.test('an activate that arrives after its code expired makes nothing valid; a late expire finds nothing to delete', async (t) => {
  const { fns } = await functionsFor(configFor(parts))
  const late = activate(1000, new Date(Date.now() - 5000))
  const dropped = await fns.worker(JSON.parse(Buffer.from(encodeMessage(late), 'base64').toString('utf8')), trigger(''))
  t.match(dropped, { kind: 'dropped', reason: 'late' })
  t.equal(await fns.codesTable.get(late.codeHash), undefined)
  t.equal(await queueLength(fns.queues), 0, 'no expire sent for it')
  const expire = await fns.worker(JSON.parse(Buffer.from(encodeMessage({ ...late, phase: 'expire' }), 'base64').toString('utf8')), trigger(''))
  t.match(expire, { kind: 'expired', result: 'absent' })
})

t.test('an expire that arrives before its code expired is sent again, hidden for the time left', async (t) => {
  const { fns } = await functionsFor(configFor(parts))
  const message = activate(600_000)
  await fns.worker(JSON.parse(Buffer.from(encodeMessage(message), 'base64').toString('utf8')), trigger(''))
  const early = await fns.worker(JSON.parse(Buffer.from(encodeMessage({ ...message, phase: 'expire' }), 'base64').toString('utf8')), trigger(''))
  t.match(early, { kind: 'requeued' })
  t.ok(early.kind === 'requeued' && early.visibilitySeconds > 590 && early.visibilitySeconds <= 600)
  t.ok(await fns.codesTable.get(message.codeHash), 'the row stays')
  t.equal(await queueLength(fns.queues), 2, 'the first expire and the re-sent one wait (the host deletes the trigger message)')
})

t.test('an expire that arrives before its activate\'s row waits for the code\'s expiry, then deletes the row the activate made', async (t) => {
  const { fns, listener, logs } = await functionsFor(configFor(parts))
  const message = activate(6000)
  const entry = (phase: 'activate' | 'expire'): unknown => JSON.parse(Buffer.from(encodeMessage({ ...message, phase }), 'base64').toString('utf8'))
  t.match(await fns.worker(entry('expire'), trigger('')), { kind: 'requeued' }, 'no row yet, code not expired: sent again')
  t.equal(await fns.codesTable.get(message.codeHash), undefined)
  t.match(await fns.worker(entry('activate'), trigger('')), { kind: 'activated', inserted: true })
  t.same(checkSignIn(await fns.codesTable.get(message.codeHash), undefined, new Date()), { approved: true }, 'valid until it expires')
  await listener.runUntil('the row to be deleted', async () => await fns.codesTable.get(message.codeHash) === undefined, 15_000)
  await listener.runUntil('the queue to be empty', async () => await queueLength(fns.queues) === 0, 15_000)
  const results = logs.filter((l) => l.includes('"msg":"code.expired"')).map((l) => (JSON.parse(l) as { result: string }).result).sort()
  t.same(results, ['absent', 'deleted'], 'the re-sent expire and the activate\'s own: one deletes, one finds nothing')
})

t.test('a message nobody can read goes to the poison queue at once, with the reason and the text', async (t) => {
  const { fns, listener } = await functionsFor(configFor(parts))
  await fns.queues.queue.sendMessage(Buffer.from('{"v":1,"phase":"activate","code":"nope"}').toString('base64'))
  t.match(await listener.pollOnce(), { received: 1, succeeded: 1, poisoned: 0 })
  t.equal(await queueLength(fns.queues), 0)
  const [poison] = await peekTexts(fns.queues, 'poison')
  t.match(JSON.parse(poison ?? '{}'), { reason: /^unreadable message: /, dequeueCount: 1, text: /"code":"nope"/ })
})

t.test('a message whose handling keeps failing is retried by the host and poisoned on try maxDequeueCount', async (t) => {
  const { fns, listener, logs } = await functionsFor(configFor(parts), { hostSettings: { ...HOST, visibilityTimeoutSeconds: 0 } })
  const message = activate(600_000)
  // The table vanishes after the app set it up: every insert fails.
  await fns.worker(JSON.parse(Buffer.from(encodeMessage(activate(600_000)), 'base64').toString('utf8')), trigger(''))
  await fns.codesTable.client.deleteTable()
  await fns.queues.queue.clearMessages()
  await fns.queues.queue.sendMessage(encodeMessage(message))
  const results = []
  for (let i = 0; i < HOST.maxDequeueCount; i++) {
    let result = await listener.pollOnce()
    while (result.received === 0) result = await listener.pollOnce()
    results.push(result)
  }
  t.same(results.map((r) => r.failed), [1, 1, 1, 1, 0], 'four throws back to the host, then the lifecycle poisons it itself')
  t.equal(await queueLength(fns.queues), 0)
  const [poison] = await peekTexts(fns.queues, 'poison')
  t.match(JSON.parse(poison ?? '{}'), { reason: /activate failed 5 times/, dequeueCount: 5 })
  t.equal(logs.filter((l) => l.includes('"msg":"message.failed"')).length, 4)
})

t.test('a message that crashes the function every time is poisoned by the host, unchanged', async (t) => {
  const { fns } = await functionsFor(configFor(parts))
  const { QueueListener } = await import('./fixtures/host.js')
  const crashing = new QueueListener(fns.queues, async () => { throw new Error('worker process died') }, { ...HOST, visibilityTimeoutSeconds: 0 })
  const text = encodeMessage(activate(600_000))
  await fns.queues.queue.sendMessage(text)
  await crashing.runUntil('the host to poison it', async () => await queueLength(fns.queues, 'poison') === 1)
  const { peekedMessageItems: [item] } = await fns.queues.poison.peekMessages()
  t.equal(item?.messageText, text, 'the poison queue the container worker uses holds it')
})

t.test('with QUEUE_SHARDS=2 each shard\'s trigger activates the codes of its shard and sends their expires to that shard', async (t) => {
  const { fns } = await functionsFor(configFor(parts, { queueShards: 2 }))
  t.same(fns.triggers.map((tr) => [tr.name, tr.queue.name]), [['worker', fns.queueName], ['worker-1', `${fns.queueName}-1`]])
  // One code for each shard, sent where the api's issuer sends it (by the code's hash).
  const messages: CodeMessage[] = []
  while (messages.length < 2) {
    const message = activate(600_000)
    if (shardOf(message.codeHash, 2) === messages.length) messages.push(message)
  }
  await Promise.all(messages.map(async (m, i) => await fns.queues.shards[i]?.sendMessage(encodeMessage(m))))
  const listeners = fns.triggers.map((tr) => new QueueListener(fns.queues, tr.handler, HOST, tr.queue))
  const polls = await Promise.all(listeners.map(async (l) => await l.pollOnce()))
  t.same(polls.map((p) => [p.received, p.succeeded]), [[1, 1], [1, 1]], 'each trigger takes its own shard\'s message')
  for (const m of messages) t.same(checkSignIn(await fns.codesTable.get(m.codeHash), undefined, new Date()), { approved: true })
  const lengths = await Promise.all(fns.queues.shards.map(async (q) => (await q.getProperties()).approximateMessagesCount))
  t.same(lengths, [1, 1], 'each expire waits, hidden, in the shard its activate came from')
})

t.test('the original sample\'s {code, timestamp} message is activated under the hash of its code with the vault\'s key', async (t) => {
  const { fns, listener, logs } = await functionsFor(configFor(parts))
  const code = generateCode(42)
  await fns.queues.queue.sendMessage(encodeSampleMessage({ code, issuedAt: new Date() }, 'json', 'base64'))
  t.match(await listener.pollOnce(), { received: 1, succeeded: 1 })
  t.same(checkSignIn(await fns.codesTable.get(hasher.hash(code)), undefined, new Date()), { approved: true }, 'the row is the code\'s hash under the code hash key')
  t.equal(await queueLength(fns.queues), 1, 'its expire waits')
  t.notOk(logs.join('').includes(code), 'the code is never logged')
  t.ok(logs.some((l) => l.includes('"msg":"code.activated"') && l.includes(`"codeId":"${codeIdOf(hasher.hash(code))}"`)))
})

t.test('a worker without KEY_VAULT_URL poisons the sample\'s message with its code scrubbed', async (t) => {
  const config = configFor(parts)
  const logs: string[] = []
  const { createFunctions } = await import('../src/functions.js')
  const { functionsConfigOf } = await import('./fixtures/parts.js')
  const { api: _, codeHashVault: __, ...workerOnly } = functionsConfigOf(config)
  const fns = createFunctions({ ...workerOnly, enabled: 'worker' }, { logStream: { write: (line) => { logs.push(line) } } })
  t.equal(fns.codeHashKeys, undefined)
  t.ok(logs.some((l) => l.includes('"event":"code-hash-key.none"')), 'says at start what happens to such messages')
  await Promise.all([fns.queues.queue.createIfNotExists(), fns.queues.poison.createIfNotExists(), fns.codesTable.ensureTable()])
  const code = generateCode(43)
  const outcome = await fns.worker({ code, timestamp: formatTimestamp(new Date()) }, trigger(''))
  t.match(outcome, { kind: 'poisoned' })
  const [poison] = await peekTexts(fns.queues, 'poison')
  t.match(poison, /no code hash key/)
  t.notOk(poison?.includes(code), 'the poison text holds no code')
})
