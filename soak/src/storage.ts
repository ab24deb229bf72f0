/**
 * The soak's own look at the system's storage, through the same clients the
 * services use: a code's row, the queue's length, where garbage goes, the
 * search for codes at rest, and the rows left at the end.
 */
import { createQueues, createTableClient, type Queues } from '@codegate/shared/clients'
import type { CodeHasher } from '@codegate/shared/code-hash'
import { CodesTable } from '@codegate/shared/codes-table'
import type { StorageConfig } from '@codegate/shared/config'
import type { AtRestScan } from './at-rest.js'
import type { SoakOptions } from './options.js'
import type { IssuedCode, RowState } from './records.js'

/** The storage settings the system's services run with, as the soak's options set them. */
export function storageConfigOf (options: SoakOptions, connectionString: string): StorageConfig {
  return {
    auth: { kind: 'connection-string', connectionString, queueName: options.env.STORAGE_QUEUE_NAME ?? 'code-requests' },
    tableName: options.env.CODES_TABLE_NAME ?? 'codes',
    messageEncoding: 'base64',
    codeTtlSeconds: options.ttlSeconds,
    storageTimeoutMs: 5000,
    queueShards: Number(options.env.QUEUE_SHARDS ?? 1)
  }
}

export class SoakStorage {
  readonly queues: Queues
  readonly table: CodesTable

  /** `hasher` holds the system's code hash key: how the soak finds its codes' rows. */
  constructor (storage: StorageConfig, private readonly hasher: CodeHasher) {
    this.queues = createQueues(storage)
    this.table = new CodesTable(createTableClient(storage))
  }

  /** The code's row now: absent, present, consumed, another issue's (`other`), or unreadable (`error`). */
  async rowState (c: IssuedCode): Promise<RowState> {
    try {
      const row = await this.table.get(this.hasher.hash(c.code))
      if (row === undefined) return 'absent'
      if (row.expiresAt.getTime() !== c.expiresAt) return 'other'
      return row.consumedAt !== undefined ? 'consumed' : 'present'
    } catch {
      return 'error'
    }
  }

  /** Messages left in every queue shard together; -1 when a shard does not say. */
  async queueLength (): Promise<number> {
    const lengths = await Promise.all(this.queues.shards.map(async (q) => (await q.getProperties()).approximateMessagesCount ?? -1))
    return lengths.some((n) => n < 0) ? -1 : lengths.reduce((a, b) => a + b, 0)
  }

  /** Garbage goes to each shard in turn: every shard must poison what it cannot read. */
  garbageQueue (): Pick<Queues['queue'], 'sendMessage'> {
    const { shards } = this.queues
    let next = 0
    return { sendMessage: async (...args) => await (shards[next++ % shards.length] as Queues['queue']).sendMessage(...args) }
  }

  /**
   * Searches storage for issued codes in clear: every table entity, the
   * visible messages of every queue (peeked, so nothing moves), and every
   * file of Azurite's data folder, which holds the hidden messages too.
   */
  async scanAtRest (scan: AtRestScan, azuriteLocation: string): Promise<void> {
    const table = this.table.client
    for await (const entity of table.listEntities()) scan.text(`table ${table.tableName}`, JSON.stringify(entity))
    for (const q of [...this.queues.shards, this.queues.poison]) {
      const { peekedMessageItems } = await q.peekMessages({ numberOfMessages: 32 })
      for (const m of peekedMessageItems) scan.text(`queue ${q.name}`, m.messageText)
    }
    await scan.folder(azuriteLocation, 'azurite file')
  }

  /** Rows in the codes table. */
  async tableRows (): Promise<number> {
    let rows = 0
    for await (const _ of this.table.client.listEntities({ queryOptions: { select: ['RowKey'] } })) rows++
    return rows
  }
}
