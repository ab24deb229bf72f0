/**
 * Queue shards: past one queue's throughput target (docs/scale.md) codes are
 * spread by hash over QUEUE_SHARDS queues. Shard 0 is the base queue itself
 * (`code-requests`), shard i > 0 is `code-requests-i`, so one shard is
 * exactly the original single queue, and what the original sample app (or
 * any other producer that knows only the base name) sends is still read.
 * The poison queue stays one, `<base>-poison`, for every shard.
 */
import { createHash } from 'node:crypto'

/** Upper bound of QUEUE_SHARDS: the storage account's own target binds long before (docs/scale.md). */
export const MAX_QUEUE_SHARDS = 64

/** The queue name of shard `index` (0-based) of `base`. */
export function shardQueueName (base: string, index: number): string {
  return index === 0 ? base : `${base}-${index}`
}

/** One poison queue for every shard. */
export function poisonQueueName (base: string): string {
  return `${base}-poison`
}

/** Every shard's queue name, shard 0 first. */
export function shardQueueNames (base: string, shards: number): string[] {
  return Array.from({ length: shards }, (_, i) => shardQueueName(base, i))
}

/**
 * The shard of a code: four bytes of its SHA-256 that the table partition
 * (`partitionKeyOf`, the first byte) does not use, so a shard's codes still
 * spread over every table partition.
 */
export function shardOf (code: string, shards: number): number {
  if (shards <= 1) return 0
  return createHash('sha256').update(code).digest().readUInt32BE(4) % shards
}

/**
 * Why `name` is not a valid Azure queue name, or undefined when it is:
 * 3–63 characters, lowercase letters, digits and single hyphens, starting
 * and ending with a letter or digit.
 * https://learn.microsoft.com/rest/api/storageservices/naming-queues-and-metadata
 */
export function queueNameProblem (name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return `is ${name.length} characters long; a queue name has 3 to 63`
  if (!/^[a-z0-9-]+$/.test(name)) return 'may hold only lowercase letters, digits and hyphens'
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'must start and end with a letter or digit'
  if (name.includes('--')) return 'may not hold two hyphens in a row'
  return undefined
}
