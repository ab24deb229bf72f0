/**
 * The faults, injected through startLocalSystem's handles. Each records when
 * the part went down and when it answered again; the checks derive their
 * fault windows from these times, not from the plan.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Queues } from '@codegate/shared/clients'
import type { LocalSystem } from '@codegate/stack'
import { garbageBurst } from './garbage.js'
import type { FaultPlan } from './options.js'
import type { Random } from './random.js'
import type { FaultRecord } from './records.js'

export interface FaultDeps {
  system: LocalSystem
  queue: Pick<Queues['queue'], 'sendMessage'>
  random: Random
  /** Sends `count` getcode requests at once (recorded like the load's); resolves once half have answered. */
  burst: (count: number) => Promise<void>
  /** Resolves true when process `name` logs a code.activated (it is working through a batch), false after `timeoutMs`. */
  activates: (name: string, timeoutMs: number) => Promise<boolean>
  /** Keeps `connections` getcode requests in flight for `ms` (recorded like the load's). */
  flood: (connections: number, ms: number) => Promise<void>
  /** Resolves once every code issued so far was seen valid (or expired), or after `timeoutMs`. */
  caughtUp: (timeoutMs: number) => Promise<void>
  ttlMs: number
}

/** How long the workers get to work off an overload's codes before the soak goes on (the activation window ends there). */
const CATCH_UP_TIMEOUT_MS = 60_000

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
        if (plan.burst !== undefined) {
          // Killed as it finishes the first message of a batch, while it holds the rest.
          const busy = deps.activates(worker.name, 15_000)
          void deps.burst(plan.burst)
          record.caughtBusy = await busy
        }
        await outage(async () => { worker.kill('SIGKILL'); await exited }, async () => { await worker.start() })
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
