import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startAzurite } from '@codegate/stack'
import { createTableClient } from '../src/clients.js'
import { generateCode } from '../src/code.js'
import { CodesTable, checkSignIn } from '../src/codes-table.js'
import type { StorageConfig } from '../src/config.js'
import type { CodeMessage } from '../src/message.js'

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
  return { v: 1, phase: 'activate', code: generateCode(161), issuedAt, expiresAt: new Date(issuedAt.getTime() + ttlMs), ...(subject !== undefined ? { subject } : {}) }
}

t.test('insert is insert-if-absent: a second insert changes nothing', async (t) => {
  const table = await freshTable()
  const message = activation(60_000)
  const first = await table.insert(message)
  t.equal(first.inserted, true)
  const second = await table.insert({ ...message, expiresAt: new Date(Date.now() + 999_000) })
  t.equal(second.inserted, false)
  const row = await table.get(message.code)
  t.equal(row?.expiresAt.toISOString(), message.expiresAt.toISOString(), 'the first expiry stands')
})

t.test('a code signs in once; the second try is refused as consumed', async (t) => {
  const table = await freshTable()
  const message = activation(60_000)
  await table.insert(message)
  t.same(await table.consume(message.code, undefined, new Date()), { approved: true })
  t.same(await table.consume(message.code, undefined, new Date()), { approved: false, reason: 'consumed' })
})

t.test('a sign-in whose row changed between its read and its write is refused as a race, not approved', async (t) => {
  const table = await freshTable()
  const message = activation(60_000)
  await table.insert(message)
  // Another api instance consumes the code after this one has read the row and before it writes.
  const other = await freshTable(table.client.tableName)
  let otherResult: unknown
  const interposed = beforeFirst(table, 'PATCH', async () => { otherResult = await other.consume(message.code, undefined, new Date()) })
  t.same(await table.consume(message.code, undefined, new Date()), { approved: false, reason: 'race' }, 'the stale ETag is refused (412)')
  t.ok(interposed.ran(), 'the competing write came between the read and the write')
  t.same(otherResult, { approved: true })
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
  const results = await Promise.all(Array.from({ length: n }, async () => await table.consume(message.code, undefined, new Date())))
  t.equal(results.filter((r) => r.approved).length, 1, 'one approval')
  t.same(results.filter((r) => !r.approved), Array.from({ length: n - 1 }, () => ({ approved: false, reason: 'race' })), 'every refusal is a lost race (412)')
})

t.test('expired, unknown and wrong-subject codes are refused', async (t) => {
  const table = await freshTable()
  const message = activation(60_000, 'alice')
  await table.insert(message)
  t.same(await table.consume(message.code, 'bob', new Date()), { approved: false, reason: 'subject' })
  t.same(await table.consume(message.code, undefined, new Date()), { approved: false, reason: 'subject' })
  t.same(await table.consume(message.code, 'alice', new Date(message.expiresAt.getTime())), { approved: false, reason: 'expired' })
  t.same(await table.consume(generateCode(5), undefined, new Date()), { approved: false, reason: 'unknown' })
  t.same(await table.consume(message.code, 'alice', new Date()), { approved: true })
})

t.test('deleteExpired leaves an unexpired code and deletes an expired one', async (t) => {
  const table = await freshTable()
  const message = activation(1_000)
  const inserted = await table.insert(message)
  const etag = inserted.inserted ? inserted.etag : undefined
  const early = await table.deleteExpired(message.code, message.expiresAt, new Date(message.expiresAt.getTime() - 400), etag)
  t.same(early, { outcome: 'early', msLeft: 400 })
  t.ok(await table.get(message.code), 'still there')
  const later = new Date(message.expiresAt.getTime() + 1)
  t.same(await table.deleteExpired(message.code, message.expiresAt, later, etag), { outcome: 'deleted' })
  t.equal(await table.get(message.code), undefined)
  t.same(await table.deleteExpired(message.code, message.expiresAt, later, etag), { outcome: 'absent' }, 'a redelivered expire is harmless')
})

t.test('deleteExpired still deletes a row a sign-in changed since activation', async (t) => {
  const table = await freshTable()
  const message = activation(60_000)
  const inserted = await table.insert(message)
  await table.consume(message.code, undefined, new Date())
  const later = new Date(message.expiresAt.getTime() + 1)
  t.same(await table.deleteExpired(message.code, message.expiresAt, later, inserted.inserted ? inserted.etag : undefined), { outcome: 'deleted' })
  t.equal(await table.get(message.code), undefined)
})

t.test('deleteExpired leaves a newer issue of the same code alone', async (t) => {
  const table = await freshTable()
  const old = activation(1_000)
  const newer = { ...old, expiresAt: new Date(old.expiresAt.getTime() + 600_000) }
  await table.insert(newer)
  const result = await table.deleteExpired(old.code, old.expiresAt, new Date(old.expiresAt.getTime() + 1))
  t.same(result, { outcome: 'newer' })
  t.ok(await table.get(old.code))
})

t.test('the sign-in rule reads only the row', async (t) => {
  const now = new Date()
  const row = { code: 'abc-1-def', issuedAt: now, expiresAt: new Date(now.getTime() + 1), etag: 'e' }
  t.same(checkSignIn(row, undefined, now), { approved: true })
  t.same(checkSignIn(row, undefined, new Date(now.getTime() + 1)), { approved: false, reason: 'expired' })
  t.same(checkSignIn({ ...row, consumedAt: now }, undefined, now), { approved: false, reason: 'consumed' })
  t.same(checkSignIn(undefined, undefined, now), { approved: false, reason: 'unknown' })
  t.same(checkSignIn({ ...row, subject: 'a' }, 'a', now), { approved: true })
})
