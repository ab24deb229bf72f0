/**
 * What /readyz checks: every queue shard and the table answer, and the
 * third-party key is loaded. The answer is reused for a second. Once the key
 * is cached the vault is not probed: codes can be issued
 * without it, and probes every few seconds would only add vault traffic.
 */
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    readiness: () => Promise<Readiness>
  }
}

export type CheckName = 'queue' | 'table' | 'vault'

export interface Readiness {
  ready: boolean
  checks: Record<CheckName, { ok: boolean, reason?: string }>
}

/** A probe must answer quickly even when storage hangs. */
const CHECK_TIMEOUT_MS = 2000

class CheckTimeout extends Error {}

const reasonOf = (err: unknown): string => {
  if (err instanceof CheckTimeout) return `no answer within ${CHECK_TIMEOUT_MS} ms`
  const e = err as { statusCode?: number, code?: string, message?: string }
  return [e.statusCode, e.code].filter((x) => x !== undefined).join(' ') || (e.message ?? 'failed')
}

async function check (probe: () => Promise<unknown>): Promise<{ ok: boolean, reason?: string }> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      probe(),
      new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new CheckTimeout()) }, CHECK_TIMEOUT_MS) })
    ])
    return { ok: true }
  } catch (err) {
    return { ok: false, reason: `unreachable: ${reasonOf(err)}` }
  } finally {
    clearTimeout(timer)
  }
}

/** A probe answer is reused this long: a flood of probes is not a flood of storage calls. */
export const READINESS_CACHE_MS = 1000

export default fp(async (fastify) => {
  const { queues, codesTable, keyLoader, ensureStorage } = fastify
  let last: { at: number, result: Promise<Readiness> } | undefined

  fastify.decorate('readiness', async (): Promise<Readiness> => {
    // Probes that arrive while a check runs wait for it; those within a second after reuse its answer.
    if (last !== undefined && (last.at === 0 || Date.now() - last.at < READINESS_CACHE_MS)) return await last.result
    const entry: { at: number, result: Promise<Readiness> } = { at: 0, result: probe() }
    last = entry
    void entry.result.finally(() => { entry.at = Date.now() })
    return await entry.result
  })

  async function probe (): Promise<Readiness> {
    const [queue, table] = await Promise.all([
      check(async () => {
        await ensureStorage()
        await Promise.all(queues.shards.map(async (q) => await q.getProperties()))
      }),
      check(async () => {
        try {
          // Any answer from the table service will do; a missing row is the usual one.
          await codesTable.client.getEntity('readyz', 'probe')
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode !== 404) throw err
        }
      })
    ])
    const vault = keyLoader.loaded ? { ok: true } : { ok: false, reason: `key not loaded: ${keyLoader.lastError ?? 'not loaded yet'}` }
    return { ready: queue.ok && table.ok && vault.ok, checks: { queue, table, vault } }
  }
}, { name: 'readiness', fastify: '5.x', dependencies: ['storage', 'vault'] })
