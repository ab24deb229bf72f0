/**
 * The sign-in limits in an Azure table of their own, so every api replica
 * enforces the same limits and a restart forgets nothing. This module owns
 * the table's rows: one per client address, partition = two hex digits of a
 * hash of the address, row = the hash, `state` = the address's AddressState
 * as JSON, `lapsesAt` = when it stops meaning anything.
 *
 * Every write is conditional: an insert for an address never seen (or swept),
 * else a Replace with the ETag last read, so two replicas changing one
 * address cannot undo each other (the loser reads again and re-applies its
 * change). Each replica caches the rows it wrote with their ETags, so the
 * usual attempt costs one write and no read, and it runs one change per
 * address at a time, so it does not race itself.
 *
 * Rows lapse logically at `lapsesAt`; `sweep` deletes lapsed rows in batches
 * of up to 100 per partition (one transaction each).
 */
import { createHash } from 'node:crypto'
import { odata, type RestError, type TableClient, type TransactionAction } from '@azure/data-tables'
import { statusOf } from '@codegate/shared/errors'
import { emptyState, lapsesAt, prune, release, type AddressState, type Change, type LimitRules, type LimitStore } from './limits.js'

interface LimitEntity {
  partitionKey: string
  rowKey: string
  /** The address, for an operator looking for a lock. */
  key: string
  state: string
  lapsesAt: Date
}

interface Known {
  state: AddressState
  /** undefined: the row is not in the table (as far as we know). */
  etag: string | undefined
}

export interface TableLimitStoreOptions {
  /** Addresses whose rows are cached, at most. */
  maxCached?: number
}

/** A 404 for the table itself, not for a row: RestError.code, or the service's errorCode in details (Azurite). */
const tableMissing = (err: unknown): boolean => {
  if (statusOf(err) !== 404) return false
  const { code, details } = err as RestError & { details?: { errorCode?: string } }
  return code === 'TableNotFound' || details?.errorCode === 'TableNotFound'
}
/** Tries of one change under contention; the caller's deadline usually ends it first. */
const MAX_TRIES = 25
const BATCH = 100
const NO_IDS: ReadonlySet<string> = new Set()

export function rowOf (key: string): { partitionKey: string, rowKey: string } {
  const hash = createHash('sha256').update(key).digest('hex')
  return { partitionKey: hash.slice(0, 2), rowKey: hash.slice(0, 40) }
}

function parseState (text: unknown): AddressState {
  try {
    const value = JSON.parse(String(text)) as AddressState
    if (typeof value?.counter?.failures === 'number' && Array.isArray(value.pending) && typeof value.subjects === 'object') return value
  } catch {}
  // Only this module writes the rows; an unreadable one is treated as lapsed.
  return emptyState()
}

export class TableLimitStore implements LimitStore {
  readonly #cache = new Map<string, Known>()
  readonly #settled = new Map<string, Set<string>>()
  readonly #queues = new Map<string, Promise<unknown>>()
  readonly #maxCached: number
  #creating: Promise<void> | undefined

  constructor (readonly client: TableClient, private readonly rules: LimitRules, private readonly now: () => Date, options: TableLimitStoreOptions = {}) {
    this.#maxCached = options.maxCached ?? 10_000
  }

  async prepare (signal?: AbortSignal): Promise<void> {
    this.#creating ??= this.client.createTable(signal !== undefined ? { abortSignal: signal } : {}).finally(() => { this.#creating = undefined })
    await this.#creating
  }

  async change<T> (key: string, change: (state: AddressState) => Change<T>, signal?: AbortSignal): Promise<T> {
    return await this.#serial(key, async () => await this.#change(key, change, signal))
  }

  settle (key: string, id: string): void {
    const ids = this.#settled.get(key) ?? new Set<string>()
    ids.add(id)
    this.#settled.delete(key)
    this.#settled.set(key, ids)
    while (this.#settled.size > this.#maxCached) this.#settled.delete(this.#settled.keys().next().value as string)
  }

  /** Deletes the rows that have lapsed; returns how many. Rows that fail to delete are left for the next sweep. */
  async sweep (signal?: AbortSignal): Promise<number> {
    const byPartition = new Map<string, string[]>()
    const entities = this.client.listEntities<Pick<LimitEntity, 'partitionKey' | 'rowKey'>>({
      queryOptions: { filter: odata`lapsesAt lt ${this.now()}`, select: ['PartitionKey', 'RowKey'] },
      ...(signal !== undefined ? { abortSignal: signal } : {})
    })
    for await (const entity of entities) {
      const rows = byPartition.get(entity.partitionKey) ?? []
      rows.push(entity.rowKey)
      byPartition.set(entity.partitionKey, rows)
    }
    let deleted = 0
    for (const [partitionKey, rows] of byPartition) {
      for (let i = 0; i < rows.length; i += BATCH) {
        const chunk = rows.slice(i, i + BATCH)
        // A row written again between the query and this batch would lose at most
        // what was written in those milliseconds; it had lapsed, so that is a new attempt's reservation.
        const actions: TransactionAction[] = chunk.map((rowKey) => ['delete', { partitionKey, rowKey }])
        try {
          await this.client.submitTransaction(actions)
          deleted += chunk.length
        } catch {}
      }
    }
    return deleted
  }

  async #change<T> (key: string, change: (state: AddressState) => Change<T>, signal: AbortSignal | undefined): Promise<T> {
    let fresh = false
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      signal?.throwIfAborted()
      const known = this.#cache.get(key)
      const settled = new Set(this.#settled.get(key) ?? NO_IDS)
      const out = change(release(prune(known?.state ?? emptyState(), this.now().getTime(), this.rules), settled))
      if (out.state === undefined) {
        if (out.confirm === true && known !== undefined && !fresh) {
          await this.#read(key, signal)
          fresh = true
          continue
        }
        return out.result
      }
      try {
        const etag = await this.#write(key, out.state, known?.etag, signal)
        this.#remember(key, { state: out.state, etag })
        const left = this.#settled.get(key)
        if (left !== undefined) {
          for (const id of settled) left.delete(id)
          if (left.size === 0) this.#settled.delete(key)
        }
        return out.result
      } catch (err) {
        const status = statusOf(err)
        if (tableMissing(err)) {
          await this.prepare(signal)
        } else if (status === 409 || status === 412 || status === 404) {
          // Someone else wrote (or swept) the row since we saw it: read it and apply the change again.
          await this.#read(key, signal)
          fresh = true
        } else {
          throw err
        }
      }
    }
    throw new Error('the limits row of an address kept changing under us')
  }

  async #write (key: string, state: AddressState, etag: string | undefined, signal: AbortSignal | undefined): Promise<string | undefined> {
    const entity: LimitEntity = { ...rowOf(key), key, state: JSON.stringify(state), lapsesAt: new Date(lapsesAt(state, this.rules)) }
    const options = signal !== undefined ? { abortSignal: signal } : {}
    const response = etag === undefined
      ? await this.client.createEntity(entity, options)
      : await this.client.updateEntity(entity, 'Replace', { etag, ...options })
    return response.etag
  }

  async #read (key: string, signal: AbortSignal | undefined): Promise<void> {
    const { partitionKey, rowKey } = rowOf(key)
    try {
      const entity = await this.client.getEntity<LimitEntity>(partitionKey, rowKey, signal !== undefined ? { abortSignal: signal } : {})
      this.#remember(key, { state: parseState(entity.state), etag: entity.etag })
    } catch (err) {
      if (statusOf(err) !== 404) throw err
      if (tableMissing(err)) await this.prepare(signal)
      this.#remember(key, { state: emptyState(), etag: undefined })
    }
  }

  #remember (key: string, known: Known): void {
    this.#cache.delete(key)
    this.#cache.set(key, known)
    while (this.#cache.size > this.#maxCached) this.#cache.delete(this.#cache.keys().next().value as string)
  }

  /** One change per address at a time in this process: it never races itself for a row. */
  async #serial<T> (key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(key) ?? Promise.resolve()
    const run = previous.then(task, task)
    const tail = run.then(() => {}, () => {})
    this.#queues.set(key, tail)
    void tail.then(() => { if (this.#queues.get(key) === tail) this.#queues.delete(key) })
    return await run
  }
}
