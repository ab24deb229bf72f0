/**
 * `npm run scale-inputs [-- --codes N]`: the inputs of docs/scale.md that
 * the other benchmarks do not give, counted at the bench's proxy
 * (counting-proxy.ts) in front of a fresh Azurite:
 *
 * 1. Transactions per code of the two ways to bring a code back at expiry:
 *    - update: what codegate does; the activate is rewritten as the expire
 *      with updateMessage and hidden for the TTL, so every live code is a
 *      hidden message in the work queue;
 *    - expire queue: the activate is deleted and the expire sent to a
 *      second queue, hidden for the TTL, so the work queue holds only
 *      backlog and its plain length could drive scaling.
 * 2. What KEDA's azure-queue scaler asks per queue and polling interval:
 *    `all` reads the queue's properties (approximate count, hidden
 *    included); `visibleonly` peeks up to 32 messages and, when it sees 32,
 *    falls back to the properties.
 * 3. Storage latency per call, one call in flight (p50, ms), as the
 *    simulation's input.
 *
 * Calls are made one at a time with the same SDK clients and message codec
 * as the services. Exits 0 and prints Markdown.
 */
import { parseArgs } from 'node:util'
import { CodesTable, createQueues, createTableClient, decodeMessage, encodeMessage, generateCode, partitionKeyOfHash, randomHasher, type CodeMessage, type StorageConfig } from '@codegate/shared'
import { connectionStringFor, startAzurite } from '@codegate/stack'
import { diff, startCountingProxy, transactions, type Counts } from './counting-proxy.js'
import { percentile, round } from './stats.js'

type Queue = ReturnType<typeof createQueues>['queue']

const TTL_SECONDS = 2

function config (connectionString: string, queueName: string): StorageConfig {
  return { auth: { kind: 'connection-string', connectionString, queueName }, tableName: 'scaleinputs', messageEncoding: 'base64', codeTtlSeconds: TTL_SECONDS, storageTimeoutMs: 30_000 }
}

const latencies = new Map<string, number[]>()

async function timed<T> (op: string, call: () => Promise<T>): Promise<T> {
  const t0 = performance.now()
  try {
    return await call()
  } finally {
    const list = latencies.get(op) ?? []
    list.push(performance.now() - t0)
    latencies.set(op, list)
  }
}

const hasher = randomHasher()

function activate (): CodeMessage {
  const issuedAt = new Date()
  return { v: 2, phase: 'activate', codeHash: hasher.hash(generateCode(1 + Math.floor(Math.random() * 1000))), issuedAt, expiresAt: new Date(issuedAt.getTime() + TTL_SECONDS * 1000) }
}

/** Receives batches of 32 from `queue` until `count` messages came, handing each to `handle`. */
async function drain (queue: Queue, count: number, handle: (item: { messageId: string, popReceipt: string, messageText: string }) => Promise<void>): Promise<void> {
  let seen = 0
  while (seen < count) {
    const { receivedMessageItems } = await timed('receive 32', async () => await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 }))
    if (receivedMessageItems.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      continue
    }
    for (const item of receivedMessageItems) await handle(item)
    seen += receivedMessageItems.length
  }
}

async function variant (kind: 'update' | 'expire queue', codes: number, connectionString: string, proxy: { snapshot: () => Counts }): Promise<Counts> {
  const id = kind === 'update' ? 'upd' : 'exq'
  const { queue } = createQueues(config(connectionString, `scale-${id}`))
  const expires = createQueues(config(connectionString, `scale-${id}-expires`)).queue
  const table = new CodesTable(createTableClient(config(connectionString, 'unused')))
  await Promise.all([queue.createIfNotExists(), expires.createIfNotExists(), table.ensureTable()])
  const before = proxy.snapshot()
  const messages = Array.from({ length: codes }, activate)
  for (const m of messages) await timed('send', async () => await queue.sendMessage(encodeMessage(m), { messageTimeToLive: -1 }))
  const byCode = new Map(messages.map((m) => [m.codeHash, m]))
  const decode = (text: string): CodeMessage => byCode.get(decodeMessage(text, TTL_SECONDS).message.codeHash) as CodeMessage
  // Activate: insert the row, then bring the code back at expiry.
  await drain(queue, codes, async (item) => {
    const m = decode(item.messageText)
    await timed('insert row', async () => await table.insert(m))
    const expire = encodeMessage({ ...m, phase: 'expire' })
    if (kind === 'update') {
      await timed('update message', async () => await queue.updateMessage(item.messageId, item.popReceipt, expire, TTL_SECONDS))
    } else {
      await timed('send', async () => await expires.sendMessage(expire, { visibilityTimeout: TTL_SECONDS, messageTimeToLive: -1 }))
      await timed('delete message', async () => await queue.deleteMessage(item.messageId, item.popReceipt))
    }
  })
  await new Promise((resolve) => setTimeout(resolve, TTL_SECONDS * 1000 + 500))
  // Expire: delete the row, then the message.
  await drain(kind === 'update' ? queue : expires, codes, async (item) => {
    const m = decode(item.messageText)
    await timed('delete row', async () => await table.client.deleteEntity(partitionKeyOfHash(m.codeHash), m.codeHash))
    await timed('delete message', async () => await (kind === 'update' ? queue : expires).deleteMessage(item.messageId, item.popReceipt))
  })
  return diff(proxy.snapshot(), before)
}

/** One check of a KEDA azure-queue scaler on `queue`, as its source does it. */
async function kedaCheck (queue: Queue, strategy: 'all' | 'visibleonly'): Promise<void> {
  if (strategy === 'visibleonly') {
    const { peekedMessageItems } = await timed('peek 32', async () => await queue.peekMessages({ numberOfMessages: 32 }))
    if (peekedMessageItems.length < 32) return
  }
  await timed('queue properties', async () => await queue.getProperties())
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { codes: { type: 'string', default: '320' } } })
  const codes = Number(values.codes)
  if (!Number.isInteger(codes) || codes < 32) throw new Error(`--codes must be a whole number ≥ 32, got ${values.codes}`)
  const azurite = await startAzurite()
  const proxy = await startCountingProxy({ queuePort: azurite.queuePort, tablePort: azurite.tablePort })
  try {
    const connectionString = connectionStringFor('127.0.0.1', proxy.queuePort, proxy.tablePort)
    const rows: string[] = []
    const perCode: Record<string, number> = {}
    for (const kind of ['update', 'expire queue'] as const) {
      const counts = await variant(kind, codes, connectionString, proxy)
      const setup = Object.entries(counts).filter(([op]) => /^(queue\.create|table\.create-table)/.test(op))
      for (const [op] of setup) delete counts[op]
      perCode[kind] = transactions(counts) / codes
      const ops = Object.entries(counts).filter(([op]) => !op.includes(':')).sort().map(([op, n]) => `${op} ${round(n / codes, 3)}`).join(', ')
      rows.push(`| ${kind} | ${round(perCode[kind] as number, 3)} | ${ops} |`)
    }
    // KEDA: one check per queue and polling interval; here 4 shards with fewer than 32 visible, then one with 40.
    const shards = Array.from({ length: 4 }, (_, i) => createQueues(config(connectionString, `scale-keda-${i}`)).queue)
    await Promise.all(shards.map(async (q) => await q.createIfNotExists()))
    for (const m of Array.from({ length: 40 }, activate)) await (shards[3] as Queue).sendMessage(encodeMessage(m))
    const keda: string[] = []
    for (const strategy of ['all', 'visibleonly'] as const) {
      const before = proxy.snapshot()
      for (let i = 0; i < 3; i++) await kedaCheck(shards[i] as Queue, strategy)
      const quiet = transactions(diff(proxy.snapshot(), before)) / 3
      const mid = proxy.snapshot()
      await kedaCheck(shards[3] as Queue, strategy)
      const busy = transactions(diff(proxy.snapshot(), mid))
      keda.push(`| ${strategy} | ${round(quiet, 2)} | ${busy} |`)
    }
    const lat = [...latencies.entries()].sort().map(([op, xs]) => {
      const sorted = Float64Array.from(xs).sort()
      return `| ${op} | ${xs.length} | ${round(percentile(sorted, 50), 1)} | ${round(percentile(sorted, 99), 1)} |`
    })
    process.stdout.write([
      `Azurite, one call in flight, ${codes} codes per variant, TTL ${TTL_SECONDS} s.`,
      '',
      '| bringing a code back at expiry | transactions per code | by operation, per code |',
      '|---|---|---|',
      ...rows,
      '',
      '| KEDA azure-queue check | requests, queue with < 32 visible | requests, queue with 40 visible |',
      '|---|---|---|',
      ...keda,
      '',
      '| call | n | p50 ms | p99 ms |',
      '|---|---|---|---|',
      ...lat,
      ''
    ].join('\n'))
  } finally {
    await proxy.close()
    await azurite.stop()
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
