import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startAzurite } from '@codegate/stack'
import { createTableClient } from '@codegate/shared/clients'
import { generateCode } from '@codegate/shared/code'
import { randomHasher } from '@codegate/shared/code-hash'
import { CodesTable, checkSignIn } from '@codegate/shared/codes-table'
import type { StorageConfig } from '@codegate/shared/config'
import type { CodeMessage } from '@codegate/shared/message'

const hasher = randomHasher()
const azurite = await startAzurite()
t.teardown(() => azurite.stop())

async function freshTable (tableName = 't' + randomUUID().replaceAll('-', '')): Promise<CodesTable> {
  const config: StorageConfig = {
    auth: { kind: 'connection-string', connectionString: azurite.connectionString, queueName: 'unused' },
    tableName,
    messageEncoding: 'base64',
    codeTtlSeconds: 600,
    storageTimeoutMs: 5000
  }
  const table = new CodesTable(createTableClient(config))
  await table.ensureTable()
  return table
}

/** Runs `before` ahead of the first request of `method` that `table` sends (a real request, sent after it). */
function beforeFirst (table: CodesTable, method: string, before: () => Promise<void>): { ran: () => boolean } {
  let ran = false
  table.client.pipeline.addPolicy({
    name: `before-first-${method}`,
    sendRequest: async (request, next) => {
      if (request.method === method && !ran) {
        ran = true
        await before()
      }
      return await next(request)
    }
  })
  return { ran: () => ran }
}

function activation (ttlMs: number, subject?: string): CodeMessage {
  const issuedAt = new Date()
  return { v: 2, phase: 'activate', codeHash: hasher.hash(generateCode(161)), issuedAt, expiresAt: new Date(issuedAt.getTime() + ttlMs), ...(subject !== undefined ? { subject } : {}) }
}

t.test('insert is insert-if-absent: a second insert changes nothing', async (t) => {
  const table = await freshTable()
  const message = activation(60_000)
  const first = await table.insert(message)
  t.equal(first.inserted, true)
  const second = await table.insert({ ...message, expiresAt: new Date(Date.now() + 999_000) })
  t.equal(second.inserted, false)
  const row = await table.get(message.codeHash)
  t.equal(row?.expiresAt.toISOString(), message.expiresAt.toISOString(), 'the first expiry stands')
})

t.test('a code signs in once; the second try is refused as consumed', async (t) => {
  const table = await freshTable()
  const message = activation(60_000)
  await table.insert(message)
  t.match(await table.consume([message.codeHash], undefined, new Date()), { approved: true })
  t.match(await table.consume([message.codeHash], undefined, new Date()), { approved: false, reason: 'consumed' })
})

t.test('a sign-in whose row changed between its read and its write is refused as a race, not approved', async (t) => {
  const table = await freshTable()
  const message = activation(60_000)
  await table.insert(message)
  // Another api instance consumes the code after this one has read the row and before it writes.
  const other = await freshTable(table.client.tableName)
  let otherResult: unknown
  const interposed = beforeFirst(table, 'PATCH', async () => { otherResult = await other.consume([message.codeHash], undefined, new Date()) })
  t.match(await table.consume([message.codeHash], undefined, new Date()), { approved: false, reason: 'race' }, 'the stale ETag is refused (412)')
  t.ok(interposed.ran(), 'the competing write came between the read and the write')
  t.same(otherResult, { approved: true, codeHash: message.codeHash })
})

t.test('of 20 concurrent sign-ins with one code exactly one passes, and the others lost the ETag race', async (t) => {
  const table = await freshTable()
  const message = activation(60_000)
  await table.insert(message)
  // Every read is answered before any write is sent: all 20 hold the same ETag, so
  // each refusal below has to come from the conditional write, never from the read.
  const n = 20
  let reads = 0
  let allRead: () => void = () => {}
  const barrier = new Promise<void>((resolve) => { allRead = resolve })
  table.client.pipeline.addPolicy({
    name: 'read-barrier',
    sendRequest: async (request, next) => {
      if (request.method !== 'GET') return await next(request)
      const response = await next(request)
      if (++reads === n) allRead()
      await barrier
      return response
    }
  })
  const results = await Promise.all(Array.from({ length: n }, async () => await table.consume([message.codeHash], undefined, new Date())))
  t.equal(results.filter((r) => r.approved).length, 1, 'one approval')
  t.same(results.filter((r) => !r.approved), Array.from({ length: n - 1 }, () => ({ approved: false, reason: 'race', codeHash: message.codeHash })), 'every refusal is a lost race (412)')
})

t.test('expired, unknown and wrong-subject codes are refused', async (t) => {
  const table = await freshTable()
  const message = activation(60_000, 'alice')
  await table.insert(message)
  t.match(await table.consume([message.codeHash], 'bob', new Date()), { approved: false, reason: 'subject' })
  t.match(await table.consume([message.codeHash], undefined, new Date()), { approved: false, reason: 'subject' })
  t.match(await table.consume([message.codeHash], 'alice', new Date(message.expiresAt.getTime())), { approved: false, reason: 'expired' })
  t.match(await table.consume([hasher.hash(generateCode(5))], undefined, new Date()), { approved: false, reason: 'unknown' })
  t.match(await table.consume([message.codeHash], 'alice', new Date()), { approved: true })
})

t.test('deleteExpired leaves an unexpired code and deletes an expired one', async (t) => {
  const table = await freshTable()
  const message = activation(1_000)
  const inserted = await table.insert(message)
  const etag = inserted.inserted ? inserted.etag : undefined
  const early = await table.deleteExpired(message.codeHash, message.expiresAt, new Date(message.expiresAt.getTime() - 400), etag)
  t.same(early, { outcome: 'early', msLeft: 400 })
  t.ok(await table.get(message.codeHash), 'still there')
  const later = new Date(message.expiresAt.getTime() + 1)
  t.same(await table.deleteExpired(message.codeHash, message.expiresAt, later, etag), { outcome: 'deleted' })
  t.equal(await table.get(message.codeHash), undefined)
  t.same(await table.deleteExpired(message.codeHash, message.expiresAt, later, etag), { outcome: 'absent' }, 'a redelivered expire is harmless')
})

t.test('deleteExpired still deletes a row a sign-in changed since activation', async (t) => {
  const table = await freshTable()
  const message = activation(60_000)
  const inserted = await table.insert(message)
  await table.consume([message.codeHash], undefined, new Date())
  const later = new Date(message.expiresAt.getTime() + 1)
  t.same(await table.deleteExpired(message.codeHash, message.expiresAt, later, inserted.inserted ? inserted.etag : undefined), { outcome: 'deleted' })
  t.equal(await table.get(message.codeHash), undefined)
})

t.test('deleteExpired leaves a newer issue of the same code alone', async (t) => {
  const table = await freshTable()
  const old = activation(1_000)
  const newer = { ...old, expiresAt: new Date(old.expiresAt.getTime() + 600_000) }
  await table.insert(newer)
  const result = await table.deleteExpired(old.codeHash, old.expiresAt, new Date(old.expiresAt.getTime() + 1))
  t.same(result, { outcome: 'newer' })
  t.ok(await table.get(old.codeHash))
})

t.test('the sign-in rule reads only the row', async (t) => {
  const now = new Date()
  const row = { codeHash: 'a'.repeat(64), issuedAt: now, expiresAt: new Date(now.getTime() + 1), etag: 'e' }
  t.same(checkSignIn(row, undefined, now), { approved: true })
  t.same(checkSignIn(row, undefined, new Date(now.getTime() + 1)), { approved: false, reason: 'expired' })
  t.same(checkSignIn({ ...row, consumedAt: now }, undefined, now), { approved: false, reason: 'consumed' })
  t.same(checkSignIn(undefined, undefined, now), { approved: false, reason: 'unknown' })
  t.same(checkSignIn({ ...row, subject: 'a' }, 'a', now), { approved: true })
})

t.test('the table holds the hash, never the code, and refuses a code where a hash belongs', async (t) => {
  const table = await freshTable()
  const code = generateCode(161)
  const issuedAt = new Date()
  await table.insert({ v: 2, phase: 'activate', codeHash: hasher.hash(code), issuedAt, expiresAt: new Date(issuedAt.getTime() + 60_000) })
  const entities = []
  for await (const e of table.client.listEntities()) entities.push(JSON.stringify(e))
  t.equal(entities.length, 1)
  t.notMatch(entities[0], code, 'no entity property holds the code')
  t.match(entities[0], `"rowKey":"${hasher.hash(code)}"`)
  await t.rejects(table.get(code), { code: 'CODE_INVALID' }, 'a code in clear is not a row key')
  await t.rejects(table.consume(["x' or PartitionKey ne '"], undefined, new Date()), { code: 'CODE_INVALID' })
})

t.test('consume finds a code stored under the previous key when given both hashes, and says which', async (t) => {
  const table = await freshTable()
  const code = generateCode(161)
  const previous = randomHasher()
  const issuedAt = new Date()
  await table.insert({ v: 2, phase: 'activate', codeHash: previous.hash(code), issuedAt, expiresAt: new Date(issuedAt.getTime() + 60_000) })
  t.match(await table.consume([hasher.hash(code)], undefined, new Date()), { approved: false, reason: 'unknown' }, 'not under the current key alone')
  t.same(await table.consume([hasher.hash(code), previous.hash(code)], undefined, new Date()), { approved: true, codeHash: previous.hash(code) })
})
