/** Puts activate messages on a queue directly, as the api would, to build a backlog quickly. */
import { randomInt } from 'node:crypto'
import type { QueueClient } from '@azure/storage-queue'
import { generateCode } from '@codegate/shared/code'
import { randomHasher } from '@codegate/shared/code-hash'
import { encodeMessage } from '@codegate/shared/message'

export async function fillActivates (queue: QueueClient, count: number, ttlSeconds: number, concurrency = 16): Promise<void> {
  let next = 0
  const hasher = randomHasher()
  const sender = async (): Promise<void> => {
    while (next < count) {
      next++
      const issuedAt = new Date()
      const text = encodeMessage({ v: 2, phase: 'activate', codeHash: hasher.hash(generateCode(randomInt(1, 1001))), issuedAt, expiresAt: new Date(issuedAt.getTime() + ttlSeconds * 1000) })
      await queue.sendMessage(text, { messageTimeToLive: -1 })
    }
  }
  await Promise.all(Array.from({ length: concurrency }, sender))
}
