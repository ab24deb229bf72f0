/**
 * The lifecycle rules against a real codes table (Azurite) and a queue
 * modelled in memory, so that a crash can be injected before or after any
 * single storage step and the clock can jump to the next delivery.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import pino, { type Logger } from 'pino'
import { startAzurite } from '@codegate/stack'
import {
  checkSignIn,
  codeIdOf,
  randomHasher,
  withoutCodes,
  CodesTable,
  createTableClient,
  decodeMessage,
  encodeMessage,
  encodeSampleMessage,
  generateCode,
  loggerOptions,
  type CodeMessage
} from '@codegate/shared'
import {
  attemptOf,
  handleMessage,
  retryDelaySeconds,
  secondsUntil,
  type LifecycleDeps,
  type LifecycleRules,
  type LifecycleTable,
  type Outcome,
  type ReceivedMessage
} from '@codegate/shared/lifecycle'

const azurite = await startAzurite()
t.teardown(async () => { await azurite.stop() })

const TTL_MS = 600_000
const hasher = randomHasher()
const idOf = (code: string): string => codeIdOf(hasher.hash(code))
const RULES: LifecycleRules = { encoding: 'base64', codeTtlSeconds: 600, maxDequeueCount: 5, maxRetryDelaySeconds: 30, hashCode: (code) => hasher.hash(code) }

/** Each test its own table. */
async function freshTable (create = true): Promise<CodesTable> {
  const tableName = 'life' + randomUUID().replaceAll('-', '').slice(0, 20)
  const table = new CodesTable(createTableClient({
    auth: { kind: 'connection-string', connectionString: azurite.connectionString, queueName: 'unused' },
    tableName,
    messageEncoding: 'base64',
    codeTtlSeconds: 600,
    storageTimeoutMs: 5000
  }))
  if (create) await table.ensureTable()
  return table
}

function activateMessage (issuedAt: number, ttlMs = TTL_MS, subject?: string): CodeMessage {
  return {
    v: 2,
    phase: 'activate',
    codeHash: hasher.hash(generateCode(1 + Math.floor(Math.random() * 1000))),
    issuedAt: new Date(issuedAt),
    expiresAt: new Date(issuedAt + ttlMs),
    ...(subject !== undefined ? { subject } : {})
  }
}

interface LogLine { msg: string, level: number, [key: string]: unknown }

function captureLogger (): { log: Logger, lines: LogLine[] } {
  const lines: LogLine[] = []
  const log = pino({ ...loggerOptions('test', 'debug') }, { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } })
  return { log, lines }
}

/** A queue as Azure keeps one: receives count, pop receipts change, stale ones are refused. */
class FakeQueue {
  readonly messages = new Map<string, { text: string, dequeueCount: number, visibleAt: number, popReceipt: string, insertedOn: Date }>()
  readonly poison: string[] = []
  /** Every successful queue call, in order. */
  readonly calls: string[] = []

  send (text: string, visibleAt: number): string {
    const id = randomUUID()
    this.messages.set(id, { text, dequeueCount: 0, visibleAt, popReceipt: '', insertedOn: new Date(visibleAt) })
    return id
  }

  nextVisibleAt (): number | undefined {
    const times = [...this.messages.values()].map((m) => m.visibleAt)
    return times.length === 0 ? undefined : Math.min(...times)
  }

  receive (now: number, hideMs: number, id?: string): { received: ReceivedMessage, popReceipt: string } {
    const entry = [...this.messages.entries()].find(([key, m]) => (id === undefined || key === id) && m.visibleAt <= now)
    if (entry === undefined) throw new Error('nothing visible')
    const [messageId, m] = entry
    m.dequeueCount++
    m.popReceipt = randomUUID()
    m.visibleAt = now + hideMs
    return { received: { messageId, dequeueCount: m.dequeueCount, insertedOn: m.insertedOn, messageText: m.text }, popReceipt: m.popReceipt }
  }

  update (id: string, popReceipt: string, text: string, visibilitySeconds: number, now: number): string | undefined {
    const m = this.messages.get(id)
    if (m === undefined || m.popReceipt !== popReceipt) return undefined
    m.text = text
    m.visibleAt = now + visibilitySeconds * 1000
    m.popReceipt = randomUUID()
    this.calls.push('update')
    return m.popReceipt
  }

  delete (id: string, popReceipt: string): boolean {
    const m = this.messages.get(id)
    if (m === undefined || m.popReceipt !== popReceipt) return false
    this.messages.delete(id)
    this.calls.push('delete')
    return true
  }
}

class Crash extends Error {}

/** Counts storage steps over a whole life; makes the `at`-th one crash, before or after it takes effect. */
class CrashPlan {
  private step = 0
  used = false
  dead = false
  constructor (readonly at?: number, readonly after = false) {}

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.dead) throw new Crash(`${name}: process is dead`)
    const here = this.step++
    const crashHere = !this.used && here === this.at
    if (crashHere && !this.after) { this.used = this.dead = true; throw new Crash(`crash before ${name}`) }
    const result = await fn()
    if (crashHere) { this.used = this.dead = true; throw new Crash(`crash after ${name}`) }
    return result
  }
}

interface Harness {
  queue: FakeQueue
  clock: { now: number }
  table: LifecycleTable
  log: Logger
  lines: LogLine[]
  rules?: LifecycleRules
  plan?: CrashPlan
}

function depsFor (h: Harness, messageId: string, popReceipt: string): LifecycleDeps {
  let pop = popReceipt
  const plan = h.plan ?? new CrashPlan()
  plan.dead = false // a new delivery runs in a restarted process
  return {
    table: {
      insert: async (m) => await plan.run('insert', async () => await h.table.insert(m)),
      deleteExpired: async (...args) => await plan.run('deleteExpired', async () => await h.table.deleteExpired(...args))
    },
    requeue: async (text, visibilitySeconds) => await plan.run('requeue', async () => {
      const next = h.queue.update(messageId, pop, text, visibilitySeconds, h.clock.now)
      if (next === undefined) return false
      pop = next
      return true
    }),
    remove: async () => await plan.run('remove', async () => h.queue.delete(messageId, pop)),
    poison: async (text) => { await plan.run('poison', async () => { h.queue.poison.push(text); h.queue.calls.push('poison') }) },
    now: () => new Date(h.clock.now),
    log: h.log,
    rules: h.rules ?? RULES
  }
}

async function harness (overrides: Partial<Harness> = {}): Promise<Harness> {
  const { log, lines } = captureLogger()
  return { queue: new FakeQueue(), clock: { now: Date.now() }, table: await freshTable(), log, lines, ...overrides }
}

/** Receives the next visible message (moving the clock to it) and handles it. */
async function deliverNext (h: Harness, hideMs = 30_000): Promise<{ outcome: Outcome, received: ReceivedMessage }> {
  const at = h.queue.nextVisibleAt()
  if (at === undefined) throw new Error('queue is empty')
  h.clock.now = Math.max(h.clock.now, at)
  const { received, popReceipt } = h.queue.receive(h.clock.now, hideMs)
  return { outcome: await handleMessage(received, depsFor(h, received.messageId, popReceipt)), received }
}

const onlyMessage = (q: FakeQueue): { text: string, visibleAt: number, dequeueCount: number } => {
  const all = [...q.messages.values()]
  if (all.length !== 1) throw new Error(`expected one message, found ${all.length}`)
  return all[0] as { text: string, visibleAt: number, dequeueCount: number }
}

t.test('an activate inserts the code, then becomes an expire hidden until expiresAt', async (t) => {
  const h = await harness()
  const message = activateMessage(h.clock.now, TTL_MS, 'user-1')
  h.queue.send(encodeMessage(message), h.clock.now)
  h.clock.now += 150
  const { outcome } = await deliverNext(h)

  t.match(outcome, { kind: 'activated', inserted: true, lagMs: 150, visibilitySeconds: 600, lost: false })
  const row = await (h.table as CodesTable).get(message.codeHash)
  t.same(checkSignIn(row, 'user-1', new Date(h.clock.now)), { approved: true })
  t.same(row?.expiresAt, message.expiresAt)
  const stored = onlyMessage(h.queue)
  const next = decodeMessage(stored.text, 600)
  t.match(next, { source: 'envelope', message: { phase: 'expire', codeHash: message.codeHash, subject: 'user-1', expiresAt: message.expiresAt } })
  t.equal(next.message.etag, row?.etag, 'the expire carries the ETag of the row it activated')
  t.equal(next.receivesBefore, 1, 'the expire is marked as past receive 1')
  t.ok(stored.visibleAt >= message.expiresAt.getTime(), 'hidden until the code expires')
  t.same(h.queue.calls, ['update'], 'one atomic rewrite, no send + delete')
  const line = h.lines.find((l) => l.msg === 'code.activated')
  t.match(line, { codeId: /^[0-9a-f]{8}$/, messageId: String, dequeueCount: 1, lagMs: 150 })
  t.notOk(JSON.stringify(h.lines).includes(message.codeHash), 'no log line holds the whole hash')
})

t.test('a slow insert does not make the expire late: its hiding time is counted from the requeue, not the receive', async (t) => {
  const h = await harness()
  const table = h.table
  // The soak saw this: an insert that took 4.6 s right after an Azurite restart, and a row left 5 s past its expiry.
  h.table = {
    insert: async (m) => { const r = await table.insert(m); h.clock.now += 4600; return r },
    deleteExpired: async (...args) => await table.deleteExpired(...args)
  }
  const message = activateMessage(h.clock.now)
  h.queue.send(encodeMessage(message), h.clock.now)
  h.clock.now += 150
  const { outcome } = await deliverNext(h)
  const requeuedAt = h.clock.now
  t.match(outcome, { kind: 'activated', visibilitySeconds: Math.ceil((message.expiresAt.getTime() - requeuedAt) / 1000) })
  const stored = onlyMessage(h.queue)
  t.ok(stored.visibleAt >= message.expiresAt.getTime(), 'not back before the code expires')
  t.ok(stored.visibleAt < message.expiresAt.getTime() + 1000, `back within a second of expiry (${stored.visibleAt - message.expiresAt.getTime()} ms after)`)
})

t.test('a whole life survives a crash before or after any single storage step', async (t) => {
  // Steps of a healthy life: insert, requeue (activate); deleteExpired, remove (expire).
  const plans: (CrashPlan | undefined)[] = [undefined]
  for (let at = 0; at < 4; at++) plans.push(new CrashPlan(at, false), new CrashPlan(at, true))
  for (const plan of plans) {
    const name = plan === undefined ? 'no crash' : `crash ${plan.after ? 'after' : 'before'} step ${plan.at ?? -1}`
    const h = await harness(plan === undefined ? {} : { plan })
    const message = activateMessage(h.clock.now)
    h.queue.send(encodeMessage(message), h.clock.now)
    const kinds: string[] = []
    let sawValid = false
    for (let i = 0; i < 10 && h.queue.messages.size > 0; i++) {
      const { outcome } = await deliverNext(h)
      kinds.push(outcome.kind)
      // Never both an activate and an expire, never neither, until the end.
      t.ok(h.queue.messages.size <= 1, `${name}: at most one message`)
      const left = [...h.queue.messages.values()][0]
      const beforeExpiry = h.clock.now < message.expiresAt.getTime()
      if (left !== undefined && beforeExpiry && decodeMessage(left.text, 600).message.phase === 'expire') {
        const row = await (h.table as CodesTable).get(message.codeHash)
        t.same(checkSignIn(row, undefined, new Date(h.clock.now)), { approved: true }, `${name}: valid while the expire waits`)
        sawValid = true
      }
    }
    t.ok(sawValid, `${name}: the code was valid`)
    t.equal(h.queue.messages.size, 0, `${name}: the message is gone in the end`)
    t.equal(await (h.table as CodesTable).get(message.codeHash), undefined, `${name}: the code is gone in the end`)
    t.same(h.queue.poison, [], `${name}: nothing poisoned`)
    t.ok(h.clock.now >= message.expiresAt.getTime(), `${name}: not removed before expiry`)
    if (plan !== undefined) t.ok(plan.used, `${name}: the crash happened`)
    t.notOk(kinds.includes('poisoned'), `${name}: outcomes ${kinds.join(',')}`)
  }
})

t.test('a late activate is dropped: no row, message deleted', async (t) => {
  const h = await harness()
  const message = activateMessage(h.clock.now - TTL_MS - 1000)
  h.queue.send(encodeMessage(message), h.clock.now)
  const { outcome } = await deliverNext(h)
  t.match(outcome, { kind: 'dropped', reason: 'late' })
  t.equal(await (h.table as CodesTable).get(message.codeHash), undefined)
  t.equal(h.queue.messages.size, 0)
  t.match(h.lines.find((l) => l.msg === 'code.dropped'), { reason: 'late', codeId: /^[0-9a-f]{8}$/, leftoverRowDeleted: undefined })
})

t.test('a late activate removes the row a crashed earlier try left behind', async (t) => {
  const h = await harness()
  const message = activateMessage(h.clock.now)
  await h.table.insert(message) // the try that crashed before its rewrite
  h.queue.send(encodeMessage(message), message.expiresAt.getTime() + 5000)
  const { outcome } = await deliverNext(h)
  t.match(outcome, { kind: 'dropped' })
  t.equal(await (h.table as CodesTable).get(message.codeHash), undefined)
  t.match(h.lines.find((l) => l.msg === 'code.dropped'), { leftoverRowDeleted: true })
})

t.test('an activate redelivered after sign-in consumed the code leaves it consumed', async (t) => {
  const h = await harness()
  const message = activateMessage(h.clock.now)
  const text = encodeMessage(message)
  h.queue.send(text, h.clock.now)
  await deliverNext(h)
  const table = h.table as CodesTable
  t.match(await table.consume([message.codeHash], undefined, new Date(h.clock.now)), { approved: true })

  // The same activate again (the api sent it twice, or a copy resurfaced).
  h.queue.messages.clear()
  h.queue.send(text, h.clock.now)
  const { outcome } = await deliverNext(h)
  t.match(outcome, { kind: 'activated', inserted: false })
  t.same(checkSignIn(await table.get(message.codeHash), undefined, new Date(h.clock.now)), { approved: false, reason: 'consumed' })

  // Its expire still removes the consumed row on time.
  await deliverNext(h)
  t.equal(await table.get(message.codeHash), undefined)
  t.equal(h.queue.messages.size, 0)
})

t.test('an activate redelivered after the code expired does not bring it back', async (t) => {
  const h = await harness()
  const message = activateMessage(h.clock.now)
  const text = encodeMessage(message)
  h.queue.send(text, h.clock.now)
  await deliverNext(h)
  await deliverNext(h)
  t.equal(await (h.table as CodesTable).get(message.codeHash), undefined, 'expired')

  h.queue.send(text, h.clock.now)
  const { outcome } = await deliverNext(h)
  t.match(outcome, { kind: 'dropped', reason: 'late' })
  t.equal(await (h.table as CodesTable).get(message.codeHash), undefined)
  t.equal(h.queue.messages.size, 0)
})

t.test('an early expire goes back for the time left, and early returns never poison a healthy code', async (t) => {
  const h = await harness()
  const message = activateMessage(h.clock.now)
  h.queue.send(encodeMessage(message), h.clock.now)
  await deliverNext(h)
  const stored = [...h.queue.messages.values()][0]
  if (stored === undefined) throw new Error('no expire')
  // The expire shows up long before expiry (a clock far off, a manual retry), ten
  // times over: twice maxDequeueCount receives of a perfectly healthy code.
  for (let i = 0; i < 2 * RULES.maxDequeueCount; i++) {
    stored.visibleAt = h.clock.now
    const { outcome } = await deliverNext(h)
    t.match(outcome, { kind: 'requeued', lost: false })
    t.ok(stored.visibleAt >= message.expiresAt.getTime(), 'hidden until expiry again')
    h.clock.now += 1000
  }
  t.ok((await (h.table as CodesTable).get(message.codeHash)) !== undefined, 'still valid')
  const { outcome, received } = await deliverNext(h)
  t.match(outcome, { kind: 'expired', result: 'deleted', lateMs: Number })
  t.equal(received.dequeueCount, 2 + 2 * RULES.maxDequeueCount)
  t.same(h.queue.poison, [])
  t.equal(h.lines.filter((l) => l.msg === 'code.requeued').length, 2 * RULES.maxDequeueCount)
})

t.test('an expire deletes the code even after a sign-in changed its row', async (t) => {
  const h = await harness()
  const message = activateMessage(h.clock.now)
  h.queue.send(encodeMessage(message), h.clock.now)
  await deliverNext(h)
  await (h.table as CodesTable).consume([message.codeHash], undefined, new Date(h.clock.now)) // new ETag
  const { outcome } = await deliverNext(h)
  t.match(outcome, { kind: 'expired', result: 'deleted' })
  t.equal(await (h.table as CodesTable).get(message.codeHash), undefined)
})

t.test('another issue of the same code is never touched by this issue\'s messages', async (t) => {
  const h = await harness()
  const ours = activateMessage(h.clock.now)
  const theirs: CodeMessage = { ...ours, issuedAt: new Date(h.clock.now + 1000), expiresAt: new Date(ours.expiresAt.getTime() + 60_000) }
  await h.table.insert(theirs)
  h.queue.send(encodeMessage(ours), h.clock.now)

  const first = await deliverNext(h)
  t.match(first.outcome, { kind: 'activated', inserted: false })
  t.equal(decodeMessage(onlyMessage(h.queue).text, 600).message.etag, undefined, 'their ETag does not travel with our expire')
  t.match(h.lines.find((l) => l.msg === 'code.activated'), { collision: true, level: 40 })

  const second = await deliverNext(h)
  t.match(second.outcome, { kind: 'expired', result: 'newer' })
  t.same((await (h.table as CodesTable).get(ours.codeHash))?.expiresAt, theirs.expiresAt, 'their row stays')
  t.equal(h.queue.messages.size, 0)
})

t.test('an unreadable message is poisoned at once: poison sent first, then the original deleted', async (t) => {
  for (const text of ['garbage', '', Buffer.from('{"v":1,"phase":"activate","code":"nope"}').toString('base64'), "{'code': 'ojE-161-pTv'}"]) {
    const h = await harness()
    const id = h.queue.send(text, h.clock.now)
    const { outcome } = await deliverNext(h)
    t.match(outcome, { kind: 'poisoned', cause: 'unreadable', reason: /^unreadable message: / })
    t.same(h.queue.calls, ['poison', 'delete'])
    t.equal(h.queue.poison.length, 1)
    const poisoned = JSON.parse(Buffer.from(h.queue.poison[0] as string, 'base64').toString('utf8')) as Record<string, unknown>
    // The sample's text keeps its shape; its code is replaced by the code's id.
    t.match(poisoned, { reason: outcome.kind === 'poisoned' ? outcome.reason : '', messageId: id, dequeueCount: 1, insertedOn: String, text: withoutCodes(text, idOf) })
    t.notMatch(h.queue.poison[0] as string, 'ojE-161-pTv')
    t.match(h.lines.find((l) => l.msg === 'message.poisoned'), { level: 50, messageId: id })
  }
})

t.test('without a hash key, the sample\'s message is poisoned and the poison queue and logs never hold its code', async (t) => {
  const { hashCode: _, ...rules } = RULES
  const h = await harness({ rules })
  const code = generateCode(161)
  const text = encodeSampleMessage({ code, issuedAt: new Date(h.clock.now) }, 'json', 'base64')
  h.queue.send(text, h.clock.now)
  const { outcome } = await deliverNext(h)
  t.match(outcome, { kind: 'poisoned', reason: /no code hash key \(KEY_VAULT_URL\)/ })
  const poisoned = JSON.parse(Buffer.from(h.queue.poison[0] as string, 'base64').toString('utf8')) as Record<string, unknown>
  t.match(poisoned, { text: /^\{"code":"\[code\]","timestamp":/, codesScrubbed: true })
  t.notMatch(JSON.stringify(h.lines) + JSON.stringify(poisoned), code)
})

t.test('a forged envelope whose version field holds a code does not carry it into the poison reason', async (t) => {
  const h = await harness()
  h.queue.send(JSON.stringify({ v: 'ojE-161-pTv', phase: 'activate' }), h.clock.now)
  const { outcome } = await deliverNext(h)
  t.match(outcome, { kind: 'poisoned', reason: /unsupported envelope version "\[code\]"/ })
  t.notMatch(JSON.stringify(h.lines) + h.queue.poison.join(''), 'ojE-161-pTv')
})

t.test('an activate no api could have sent is poisoned at once with the reason, and no row is written', async (t) => {
  const cases: [string, (now: number) => string, RegExp][] = [
    ['a life of years', (now) => encodeMessage({ ...activateMessage(now), expiresAt: new Date('9999-12-31T23:59:59Z') }), /expiresAt - issuedAt is \d+ s, more than CODE_TTL_SECONDS \(600\) \+ 30 s/],
    ['a life just over TTL + skew', (now) => encodeMessage(activateMessage(now, (600 + 31) * 1000)), /more than CODE_TTL_SECONDS/],
    ['issued in the future', (now) => encodeMessage(activateMessage(now + 3_600_000)), /issuedAt is 3600 s in the future/],
    ['the sample\'s dict text from 2099', () => `{'code': 'ojE-161-pTv', 'timestamp': '2099-01-01 00:00:00.000000'}`, /^implausible legacy message: issuedAt is \d+ s in the future/],
    ['the sample\'s JSON from 2099', () => JSON.stringify({ code: 'ojE-162-pTv', timestamp: '2099-01-01 00:00:00.000000' }), /in the future/]
  ]
  for (const [what, text, reason] of cases) {
    const h = await harness()
    const sent = text(h.clock.now)
    const code = decodeMessage(sent, 600, RULES.hashCode).message.codeHash
    h.queue.send(sent, h.clock.now)
    const { outcome } = await deliverNext(h)
    t.match(outcome, { kind: 'poisoned', cause: 'implausible', reason }, what)
    t.same(h.queue.calls, ['poison', 'delete'], `${what}: poisoned, then deleted`)
    const poisoned = JSON.parse(Buffer.from(h.queue.poison[0] as string, 'base64').toString('utf8')) as Record<string, unknown>
    t.match(poisoned, { reason: /^implausible /, text: withoutCodes(sent, idOf) }, `${what}: the poison message says why`)
    t.equal(await (h.table as CodesTable).get(code), undefined, `${what}: no row`)
  }
})

t.test('activates within the TTL and the skew allowance are accepted', async (t) => {
  for (const [what, message] of [
    ['a life of TTL + 30 s', (now: number) => activateMessage(now, (600 + 30) * 1000)],
    ['issued 30 s ahead of the worker\'s clock', (now: number) => activateMessage(now + 30_000)]
  ] as const) {
    const h = await harness()
    h.queue.send(encodeMessage(message(h.clock.now)), h.clock.now)
    t.match((await deliverNext(h)).outcome, { kind: 'activated', inserted: true }, what)
  }
})

t.test('a message that keeps failing is retried with growing delays, then poisoned on try maxDequeueCount', async (t) => {
  const h = await harness({ table: await freshTable(false) }) // the table does not exist: every insert fails for real
  const message = activateMessage(h.clock.now)
  h.queue.send(encodeMessage(message), h.clock.now)
  const delays: number[] = []
  for (let attempt = 1; attempt < RULES.maxDequeueCount; attempt++) {
    const { outcome } = await deliverNext(h)
    t.match(outcome, { kind: 'failed', attempt })
    if (outcome.kind === 'failed') delays.push(outcome.retryInSeconds ?? -1)
  }
  t.same(delays, [1, 2, 4, 8])
  const { outcome } = await deliverNext(h)
  t.match(outcome, { kind: 'poisoned', cause: 'exhausted', reason: /^activate failed 5 times; last error: / })
  t.equal(h.queue.messages.size, 0)
  t.match(JSON.parse(Buffer.from(h.queue.poison[0] as string, 'base64').toString('utf8')), { dequeueCount: 5, text: encodeMessage(message) })
  t.equal(h.lines.filter((l) => l.msg === 'message.failed').length, 4)
})

t.test('a message whose tries all died without a word is poisoned on the next receive, unhandled', async (t) => {
  const calls: string[] = []
  const table: LifecycleTable = {
    insert: async () => { calls.push('insert'); throw new Error('must not be called') },
    deleteExpired: async () => { calls.push('deleteExpired'); throw new Error('must not be called') }
  }
  const h = await harness({ table })
  h.queue.send(encodeMessage(activateMessage(h.clock.now)), h.clock.now)
  const m = [...h.queue.messages.values()][0]
  if (m !== undefined) m.dequeueCount = RULES.maxDequeueCount // five receives that crashed the worker
  const { outcome } = await deliverNext(h)
  t.match(outcome, { kind: 'poisoned', cause: 'exhausted', reason: /did not finish in 5 tries/ })
  t.same(calls, [])
  t.equal(h.queue.messages.size, 0)
})

t.test('when the poison queue cannot be written, the original stays to come back', async (t) => {
  const h = await harness()
  h.queue.send('garbage', h.clock.now)
  const at = h.clock.now
  const { received, popReceipt } = h.queue.receive(at, 30_000)
  const deps = depsFor(h, received.messageId, popReceipt)
  deps.poison = async () => { throw new Error('poison queue unavailable') }
  const outcome = await handleMessage(received, deps)
  t.match(outcome, { kind: 'failed' })
  t.equal(h.queue.messages.size, 1, 'not deleted')
  t.match(h.lines.find((l) => l.msg === 'message.poison.failed'), { level: 50 })
})

t.test('the original sample\'s payloads activate and come back as envelope expires', async (t) => {
  for (const shape of ['python', 'json'] as const) {
    const h = await harness()
    const code = generateCode(161)
    const issued = new Date(h.clock.now - 2000)
    const text = encodeSampleMessage({ code, issuedAt: issued }, shape)
    h.queue.send(text, h.clock.now)
    const { outcome } = await deliverNext(h)
    t.match(outcome, { kind: 'activated', inserted: true }, shape)
    t.match(h.lines.find((l) => l.msg === 'code.activated'), { source: 'legacy', lagMs: 2000 })
    const rewritten = onlyMessage(h.queue).text
    t.notMatch(Buffer.from(rewritten, 'base64').toString('utf8'), code, 'the expire it becomes names the code by hash only')
    const next = decodeMessage(rewritten, 1)
    t.match(next, { source: 'envelope', message: { phase: 'expire', codeHash: hasher.hash(code) } })
    t.equal(next.message.expiresAt.getTime() - next.message.issuedAt.getTime(), RULES.codeTtlSeconds * 1000)
    t.ok(await (h.table as CodesTable).get(hasher.hash(code)), `${shape}: its row is under the hash`)
    await deliverNext(h)
    t.equal(await (h.table as CodesTable).get(hasher.hash(code)), undefined, `${shape}: expired`)
  }
})

t.test('two consumers holding one activate at once: one insert, the stale one is told it lost the message', async (t) => {
  const h = await harness()
  const message = activateMessage(h.clock.now)
  const id = h.queue.send(encodeMessage(message), h.clock.now)
  const a = h.queue.receive(h.clock.now, 1000, id)
  h.clock.now += 1000 // A's visibility timeout passes mid-handling
  const b = h.queue.receive(h.clock.now, 30_000, id)
  const [outA, outB] = await Promise.all([
    handleMessage(a.received, depsFor(h, id, a.popReceipt)),
    handleMessage(b.received, depsFor(h, id, b.popReceipt))
  ])
  t.match(outA, { kind: 'activated', lost: true }, 'A: done, but the message is B\'s now')
  t.match(outB, { kind: 'activated', lost: false })
  t.equal([outA, outB].filter((o) => o.kind === 'activated' && o.inserted).length, 1, 'inserted once')
  t.equal(decodeMessage(onlyMessage(h.queue).text, 600).message.phase, 'expire')
})

t.test('attempt counting reads only marks the worker could have written', async (t) => {
  const message = activateMessage(Date.now())
  const decoded = (text: string): ReturnType<typeof decodeMessage> => decodeMessage(text, 600)
  const at = (text: string, dequeueCount: number): number =>
    attemptOf({ messageId: 'm', dequeueCount, insertedOn: new Date(), messageText: text }, decoded(text))
  t.equal(at(encodeMessage(message), 3), 3, 'unmarked: every receive is a try')
  t.equal(at(encodeMessage(message, 'base64', 4), 5), 1, 'first receive after a success')
  t.equal(at(encodeMessage(message, 'text', 4), 7), 3, 'text encoding too')
  t.equal(at(encodeMessage(message, 'base64', 9), 5), 5, 'a mark at or above the count is forged: ignored')
  t.equal(at(encodeMessage(message, 'base64', 5), 5), 5, 'a mark equal to the count too')
})

t.test('delays and limits', async (t) => {
  t.same([1, 2, 3, 4, 5, 6].map((a) => retryDelaySeconds(a, 10)), [1, 2, 4, 8, 10, 10])
  t.equal(retryDelaySeconds(1, 0), 1, 'never zero')
  const now = new Date(0)
  t.equal(secondsUntil(new Date(600_000), now), 600)
  t.equal(secondsUntil(new Date(1), now), 1, 'a fraction rounds up')
  t.equal(secondsUntil(new Date(-5), now), 1, 'the past: at once (Azure needs ≥ 1 for updateMessage here)')
  t.equal(secondsUntil(new Date(30 * 86400_000), now), 7 * 86400, 'Azure\'s 7-day cap')
})
