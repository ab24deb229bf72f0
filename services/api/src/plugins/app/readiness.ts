/**
 * What /readyz checks: every queue shard and the table answer, the
 * third-party key and the code hash key are loaded, and the api is not shedding load
 * (under-pressure). The answer is reused for a second. Once the key is
 * cached the vault is not probed: codes can be issued
 * without it, and probes every few seconds would only add vault traffic.
 */
import { statusOf } from '@codegate/shared/errors'
import { withTimeout } from '@codegate/shared/race'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    readiness: () => Promise<Readiness>
  }
}

export type CheckName = 'queue' | 'table' | 'vault' | 'pressure'

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
  try {
    await withTimeout(probe(), CHECK_TIMEOUT_MS, () => { throw new CheckTimeout() })
    return { ok: true }
  } catch (err) {
    return { ok: false, reason: `unreachable: ${reasonOf(err)}` }
  }
}

/** A probe answer is reused this long: a flood of probes is not a flood of storage calls. */
export const READINESS_CACHE_MS = 1000

export default fp(async (fastify) => {
  const { queues, codesTable, keyLoader, codeHashLoader, ensureStorage } = fastify
  let last: { at: number, result: Promise<Probed> } | undefined

  fastify.decorate('readiness', async (): Promise<Readiness> => {
    // Probes that arrive while a check runs wait for it; those within a second after reuse its answer.
    if (last === undefined || (last.at !== 0 && Date.now() - last.at >= READINESS_CACHE_MS)) {
      const entry: { at: number, result: Promise<Probed> } = { at: 0, result: probe() }
      last = entry
      void entry.result.finally(() => { entry.at = Date.now() })
    }
    const probed = await last.result
    // Read fresh, after the probes: under load they take a while, and the answer should be current.
    const shedding = fastify.pressure()
    const pressure = shedding === undefined ? { ok: true } : { ok: false, reason: `overloaded: ${shedding}` }
    return { ready: probed.ready && pressure.ok, checks: { ...probed.checks, pressure } }
  })

  type Probed = { ready: boolean, checks: Omit<Readiness['checks'], 'pressure'> }

  async function probe (): Promise<Probed> {
    const [queue, table] = await Promise.all([
      check(async () => {
        await ensureStorage()
        await Promise.all(queues.shards.map(async (q) => {
          try {
            await q.getProperties()
          } catch (err) {
            // In Azure the api may only send (Storage Queue Data Message Sender,
            // infra/deploy.sh), not read a queue's properties: a 403 is still
            // the queue service answering a valid token.
            if (statusOf(err) !== 403) throw err
          }
        }))
      }),
      check(async () => {
        try {
          // Any answer from the table service will do; a missing row is the usual one.
          await codesTable.client.getEntity('readyz', 'probe')
        } catch (err) {
          if (statusOf(err) !== 404) throw err
        }
      })
    ])
    const missing = [
      ...(keyLoader.loaded ? [] : [`key not loaded: ${keyLoader.lastError ?? 'not loaded yet'}`]),
      ...(codeHashLoader.loaded ? [] : [`code hash key not loaded: ${codeHashLoader.lastError ?? 'not loaded yet'}`])
    ]
    const vault = missing.length === 0 ? { ok: true } : { ok: false, reason: missing.join('; ') }
    return { ready: queue.ok && table.ok && vault.ok, checks: { queue, table, vault } }
  }
}, { name: 'readiness', fastify: '5.x', dependencies: ['storage', 'vault', 'under-pressure'] })
