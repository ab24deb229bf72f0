/**
 * The faults, injected through startLocalSystem's handles. Each records when
 * the part went down and when it answered again; the checks derive their
 * fault windows from these times, not from the plan.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Queues } from '@codegate/shared/clients'
import type { LocalSystem, TcpProxy } from '@codegate/stack'
import { garbageBurst } from './garbage.js'
import type { FaultPlan } from './options.js'
import type { Random } from '@codegate/stack'
import type { FaultRecord } from './records.js'

export interface FaultDeps {
  system: LocalSystem
  queue: Pick<Queues['queue'], 'sendMessage'>
  random: Random
  /** Sends `count` getcode requests at once (recorded like the load's); resolves once half have answered. */
  burst: (count: number) => Promise<void>
  /** The proxy in front of worker `name`'s table (the worker-kill fault makes it hang to catch the worker holding messages). */
  tableProxyOf: (name: string) => TcpProxy | undefined
  /** From a kill until what the killed worker held is due back and taken by another worker: its receive's visibility timeout plus slack. */
  redeliveryMs: number
  /** Keeps `connections` getcode requests in flight for `ms` (recorded like the load's). */
  flood: (connections: number, ms: number) => Promise<void>
  /** Resolves once every code issued so far was seen valid (or expired), or after `timeoutMs`. */
  caughtUp: (timeoutMs: number) => Promise<void>
  ttlMs: number
}

/** How long the workers get to work off an overload's codes before the soak goes on (the activation window ends there). */
const CATCH_UP_TIMEOUT_MS = 60_000
/** How long a worker-kill waits for its worker to take a message of the burst, and then to take more of it. */
const HOLD_TIMEOUT_MS = 15_000
const HOLD_MS = 500

async function until (condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() >= deadline) return false
    await sleep(20)
  }
  return true
}

const message = (err: unknown): string => err instanceof Error ? err.message : String(err)

/** Runs one fault to its end (the part is back); never throws: a failed injection is recorded. */
export async function injectFault (plan: FaultPlan, plannedAt: number, deps: FaultDeps): Promise<FaultRecord> {
  const { system } = deps
  const downMs = (plan.downSeconds ?? 0) * 1000
  const record: FaultRecord = { kind: plan.kind, target: '', plannedAt, startedAt: Date.now(), endedAt: 0 }
  /** Takes a part down with `stop`, keeps it down for the plan's time, brings it back with `start`. */
  const outage = async (stop: () => Promise<unknown>, start: () => Promise<unknown>): Promise<void> => {
    await stop()
    record.downAt = Date.now()
    await sleep(downMs)
    await start()
    record.upAt = Date.now()
  }
  try {
    switch (plan.kind) {
      case 'worker-kill': {
        const worker = system.workers[plan.worker ?? 0]
        if (worker === undefined) throw new Error(`there is no worker ${plan.worker ?? 0}`)
        record.target = worker.name
        const exited = worker.process?.exited
        const proxy = deps.tableProxyOf(worker.name)
        try {
          if (plan.burst !== undefined) {
            if (proxy === undefined) throw new Error(`${worker.name} has no table proxy`)
            // Its table stops answering: each code message it takes from now on
            // stays in its hands (its insert, a POST, never returns) until the kill.
            proxy.hang()
            const inserts = proxy.requestsOf('POST')
            void deps.burst(plan.burst)
            record.caughtBusy = await until(() => proxy.requestsOf('POST') > inserts, HOLD_TIMEOUT_MS)
            if (record.caughtBusy) await sleep(HOLD_MS)
          }
          await outage(async () => { worker.kill('SIGKILL'); await exited }, async () => { proxy?.forward(); await worker.start() })
        } finally {
          proxy?.forward()
        }
        // The fault lasts until what the worker held is due back, so the
        // redelivery falls inside its window, not the next fault's.
        await sleep(Math.max(0, (record.downAt ?? Date.now()) + deps.redeliveryMs - Date.now()))
        break
      }
      case 'azurite-restart': {
        record.target = 'azurite'
        if (plan.burst !== undefined) await deps.burst(plan.burst)
        // SIGINT, as Azurite's own Ctrl-C: data stays on disk and is loaded again.
        await outage(async () => { await system.azurite.pause() }, async () => { await system.azurite.start() })
        break
      }
      case 'number-api-down':
      case 'vault-down': {
        const service = plan.kind === 'vault-down' ? system.vault : system.numberApi
        record.target = service.name
        await outage(async () => { await service.stop() }, async () => { await service.start() })
        break
      }
      case 'overload': {
        record.target = 'api'
        record.connections = plan.connections ?? 200
        record.ttlMs = deps.ttlMs
        record.downAt = Date.now()
        await deps.flood(record.connections, downMs)
        record.upAt = Date.now()
        await deps.caughtUp(CATCH_UP_TIMEOUT_MS)
        record.caughtUpAt = Date.now()
        break
      }
      case 'garbage': {
        record.target = 'code-requests'
        record.messageIds = []
        for (const g of garbageBurst(plan.count ?? 20, deps.random)) {
          const sent = await deps.queue.sendMessage(g.text)
          record.messageIds.push(sent.messageId)
        }
        break
      }
    }
  } catch (err) {
    record.error = message(err)
  }
  record.endedAt = Date.now()
  return record
}
