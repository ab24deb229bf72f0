/**
 * The queue poller: a thin adapter between Azure Queue Storage and the code
 * lifecycle (@codegate/shared/lifecycle), shaped like BullMQ's Worker and the
 * Azure Functions queue listener:
 *
 * - receive batches of up to `batchSize` (Azure allows 32), each message
 *   hidden for `visibilityTimeoutSeconds` while it is handled;
 * - with several queue shards (QUEUE_SHARDS), every worker reads every
 *   shard: each shard is polled as a lone queue would be (again at once
 *   when it returned messages, after its own back-off when it was empty),
 *   and shards that are due take turns, so a deep shard does not starve
 *   the others (docs/scale.md);
 * - at most `maxInFlight` messages in flight; the next batch is fetched once
 *   there is room for `min(batchSize, maxInFlight / 2)` more (the Functions
 *   listener's newBatchThreshold);
 * - an empty queue backs off, randomized and exponential, up to
 *   `maxBackoffMs`: the worst-case wait before an issued code is valid;
 * - storage errors back off too (longer) and never end the process;
 * - close() is idempotent: stop fetching, wait (bounded) for messages in
 *   flight, then stop. What did not finish comes back (at-least-once).
 *
 * Like BullMQ's Worker it says what it did as typed events (`WorkerEvents`):
 * metrics and tests listen to them instead of parsing log lines.
 */
import { EventEmitter } from 'node:events'
import {
  CodesTable,
  createCredential,
  createQueues,
  createSecretClient,
  createTableClient,
  loggerOptions,
  type Queues
} from '@codegate/shared'
import { Backoff } from '@codegate/shared/backoff'
import { CodeHashKeys } from '@codegate/shared/code-hash'
import { statusOf } from '@codegate/shared/errors'
import { withTimeout } from '@codegate/shared/race'
import { handleMessage, type LifecycleDeps, type LifecycleRules, type Outcome, type PoisonCause, type ReceivedMessage } from '@codegate/shared/lifecycle'
import pino, { type Logger } from 'pino'
import type { WorkerConfig } from './config.js'

type QueueClient = Queues['queue']
type ReceivedItem = Awaited<ReturnType<QueueClient['receiveMessages']>>['receivedMessageItems'][number]
type Credential = Parameters<typeof createQueues>[1]

export interface WorkerOptions {
  /** pino logger; one from config.logLevel when omitted. */
  logger?: Logger
  /** Queue clients to use instead of ones made from config. */
  queues?: Queues
  /** Codes table to use instead of one made from config. */
  table?: CodesTable
  /** Entra ID credential for STORAGE_QUEUE_URL; made from config.credential when omitted. */
  credential?: Credential
  /** The lifecycle's clock (code expiry); polling and readiness use the real one. */
  now?: () => Date
  /** Longest time the poll loop may go without a step before /healthz fails; see Worker.liveWindowMs. */
  liveWindowMs?: number
  /** Code hash keys to use instead of the ones config.codeHashVault names. */
  codeHashKeys?: Pick<CodeHashKeys, 'load' | 'loaded' | 'hasher' | 'name'>
}

/** Counters since start; `inFlight` and `lastPollAt` are current values. */
export interface WorkerStats {
  received: number
  /** Messages whose handling ended, whatever the outcome. */
  processed: number
  activated: number
  expired: number
  requeued: number
  dropped: number
  poisoned: number
  /** Handling failed; the message will be tried again. */
  failed: number
  /** Failed polls, setup calls and message handlings. */
  errors: number
  inFlight: number
  /** End of the last successful receive (empty or not). */
  lastPollAt: Date | undefined
}

/** Which message an event is about. Never the code: events reach metrics and tools. */
export interface MessageRef {
  messageId: string
  /** Receives so far, this one included. */
  dequeueCount: number
}

/**
 * What the worker did, as BullMQ's Worker says it: one event per handled
 * message (its outcome) and one per receive. Listeners run synchronously in
 * the poll loop's turn: keep them cheap and do not throw.
 */
export interface WorkerEvents {
  /** Queues and table exist; the first receive comes next (the 'worker.started' line). */
  started: []
  /** The code's row exists now (or already did) and its expire is queued. `lagMs`: issuedAt → row written. */
  activated: [MessageRef & { inserted: boolean, lagMs: number, lost: boolean }]
  /** The row is gone (`result`); `lateMs`: how long after expiresAt. */
  expired: [MessageRef & { result: 'deleted' | 'absent' | 'newer', lateMs: number, lost: boolean }]
  /** An expire came back early and was hidden again. */
  requeued: [MessageRef & { visibilitySeconds: number, lost: boolean }]
  /** An activate arrived after its code expired: no row. */
  dropped: [MessageRef & { reason: 'late', lost: boolean }]
  /** Sent to the poison queue; `cause` is a bounded set, `reason` the words. */
  poisoned: [MessageRef & { cause: PoisonCause, reason: string }]
  /** Handling failed (or crashed); the message comes back. */
  failed: [MessageRef & { attempt: number, error: unknown }]
  /** A receive from `queue` returned `count` messages (0 when empty). */
  received: [{ queue: string, count: number }]
  /** close() finished. */
  closed: []
}

/** Smallest first wait of the idle back-off. */
const IDLE_MIN_MS = 50
/** Storage errors wait at least this long at the cap: a struggling service is not hammered. */
const ERROR_MAX_MS = 5000

/** A message that became visible again and was received elsewhere: Azure answers 404, Azurite 400 PopReceiptMismatch. */
function notOurs (err: unknown): boolean {
  const status = statusOf(err)
  return status === 404 || (status === 400 && (err as { code?: unknown }).code === 'PopReceiptMismatch')
}

export class Worker extends EventEmitter<WorkerEvents> {
  readonly stats: WorkerStats = {
    received: 0,
    processed: 0,
    activated: 0,
    expired: 0,
    requeued: 0,
    dropped: 0,
    poisoned: 0,
    failed: 0,
    errors: 0,
    inFlight: 0,
    lastPollAt: undefined
  }

  readonly log: Logger
  /** A successful poll at most this long ago means ready. */
  readonly readyWindowMs: number
  /**
   * The poll loop took a step (a receive ended, well or not, or a back-off
   * ended) at most this long ago means live. Its longest legitimate pause is
   * a receive that times out on both tries plus the longest error back-off;
   * three of those. A loop that hangs longer (a call that never returns, work
   * in flight that never ends) is restarted by the platform's liveness probe.
   */
  readonly liveWindowMs: number
  private lastStepAt = Date.now()
  private readonly queues: Queues
  /** Every queue shard, the base queue first. */
  private readonly shards: QueueClient[]
  private readonly table: CodesTable
  private readonly now: () => Date
  private readonly rules: LifecycleRules
  /** Hashes the codes of messages that carry one in clear; none: such messages are poisoned. */
  private readonly codeHashKeys: Pick<CodeHashKeys, 'load' | 'loaded' | 'hasher' | 'name'> | undefined
  private keyRefreshTimer: NodeJS.Timeout | undefined
  /** The idle back-off of each shard. */
  private readonly idle: Backoff[]
  private readonly failing: Backoff
  private readonly abort = new AbortController()
  private readonly inFlight = new Set<Promise<void>>()
  private closing = false
  private started: Promise<void> | undefined
  private loop: Promise<void> | undefined
  private closed: Promise<void> | undefined
  private summaryTimer: NodeJS.Timeout | undefined
  /** Ends the current back-off sleep early (close). */
  private interruptSleep: (() => void) | undefined
  /** Ends the wait for room (a message finished, or close). */
  private roomFreed: (() => void) | undefined

  constructor (readonly config: WorkerConfig, options: WorkerOptions = {}) {
    super()
    this.log = options.logger ?? pino(loggerOptions('worker', config.logLevel))
    const credential = options.credential ?? (config.auth.kind === 'url' ? createCredential(config) : undefined)
    this.queues = options.queues ?? createQueues(config, credential)
    this.shards = this.queues.shards.length > 0 ? this.queues.shards : [this.queues.queue]
    this.table = options.table ?? new CodesTable(createTableClient(config, credential))
    this.now = options.now ?? (() => new Date())
    const vault = config.codeHashVault
    this.codeHashKeys = options.codeHashKeys ?? (vault !== undefined
      ? new CodeHashKeys({
        client: createSecretClient({ ...vault, secretName: vault.secretName }, options.credential ?? createCredential(config)),
        secretName: vault.secretName,
        // Only the current key hashes here; the previous one matters at sign-in.
        previousGraceSeconds: 0
      })
      : undefined)
    const keys = this.codeHashKeys
    this.rules = {
      encoding: config.messageEncoding,
      codeTtlSeconds: config.codeTtlSeconds,
      maxDequeueCount: config.maxDequeueCount,
      maxRetryDelaySeconds: config.visibilityTimeoutSeconds,
      ...(keys !== undefined ? { hashCode: (code: string) => keys.hasher.hash(code) } : {})
    }
    this.idle = this.shards.map(() => new Backoff(Math.min(IDLE_MIN_MS, config.maxBackoffMs), config.maxBackoffMs))
    const errorMaxMs = Math.max(ERROR_MAX_MS, config.maxBackoffMs)
    this.failing = new Backoff(Math.min(250, errorMaxMs), errorMaxMs)
    this.readyWindowMs = Math.max(5000, 5 * config.maxBackoffMs)
    this.liveWindowMs = options.liveWindowMs ?? Math.max(30_000, 3 * (2 * config.storageTimeoutMs + errorMaxMs))
  }

  /**
   * Creates the queue, poison queue and table if missing (retrying storage
   * errors with back-off), then starts polling. Resolves once polling has
   * begun, or when close() is called first.
   */
  async start (): Promise<void> {
    this.started ??= this.loadKeys().then(async () => { await this.setup() }).then(() => {
      if (this.closing) return
      this.loop = this.poll()
      this.startSummary()
    })
    await this.started
  }

  /** Why the worker is not ready (for /readyz), or undefined when it is. */
  notReady (): string | undefined {
    if (this.closing) return 'stopping'
    const last = this.stats.lastPollAt
    if (last === undefined) return 'has not polled the queue yet'
    const ageMs = Date.now() - last.getTime()
    return ageMs <= this.readyWindowMs ? undefined : `last successful poll ${ageMs} ms ago`
  }

  /** Why the poll loop is stuck (for /healthz), or undefined while it makes progress or is stopping. */
  notLive (): string | undefined {
    if (this.closing) return undefined
    const ageMs = Date.now() - this.lastStepAt
    return ageMs <= this.liveWindowMs ? undefined : `poll loop stuck: no step for ${ageMs} ms (limit ${this.liveWindowMs} ms)`
  }

  /** Stops fetching, waits up to shutdownTimeoutMs for messages in flight, stops. Idempotent. */
  async close (): Promise<void> {
    this.closed ??= this.shutdown()
    await this.closed
  }

  private async shutdown (): Promise<void> {
    this.closing = true
    const deadline = Date.now() + this.config.shutdownTimeoutMs
    this.log.info({ inFlight: this.inFlight.size }, 'worker.stopping')
    this.abort.abort()
    this.interruptSleep?.()
    this.roomFreed?.()
    clearInterval(this.summaryTimer)
    clearInterval(this.keyRefreshTimer)
    // The loop ends at once (its receive is aborted); it may still hand over a batch that was on its way.
    await within(Promise.allSettled([this.started, this.loop]), deadline)
    const drained = await within(Promise.allSettled([...this.inFlight]), deadline)
    // Nothing else to release: the Azure SDK clients hold only pooled
    // keep-alive sockets, which Node unrefs while idle.
    const { inFlight: _, lastPollAt: __, ...counts } = this.stats
    this.log.info({ drained, abandoned: this.inFlight.size, ...counts }, 'worker.stopped')
    this.emit('closed')
  }

  /**
   * Reads the code hash key before the first message: a worker that cannot
   * hash the sample's messages refuses to start, naming the secret
   * (CodeHashKeyError), rather than poison them. Then reads it again every
   * CODE_HASH_KEY_REFRESH_SECONDS to follow a rotation.
   */
  private async loadKeys (): Promise<void> {
    const keys = this.codeHashKeys
    if (keys === undefined) {
      this.log.warn({ event: 'code-hash-key.none' }, 'no KEY_VAULT_URL: messages with a code in clear (the original sample\'s) go to the poison queue')
      return
    }
    if (!keys.loaded) await keys.load()
    this.log.info({ event: 'key.loaded', secretName: keys.name }, 'code hash key loaded from the vault')
    const refreshSeconds = this.config.codeHashVault?.refreshSeconds
    if (refreshSeconds === undefined) return
    this.keyRefreshTimer = setInterval(() => {
      keys.load().catch((err: unknown) => { this.log.warn({ err, event: 'code-hash-key.refresh.failed' }, 'could not read the code hash key again; the loaded one stays in use') })
    }, refreshSeconds * 1000)
    this.keyRefreshTimer.unref()
  }

  private async setup (): Promise<void> {
    while (!this.closing) {
      try {
        const forbidden = await Promise.all([
          ...this.shards.map(async (shard) => await shard.createIfNotExists({ abortSignal: this.abort.signal })),
          this.queues.poison.createIfNotExists({ abortSignal: this.abort.signal }),
          this.table.ensureTable()
        ].map(async (creating) => await creating.then(() => undefined, rethrowUnlessForbidden)))
        // In Azure the worker's identity may only process messages and write
        // rows (infra/deploy.sh): the deployment made the queues and table.
        if (forbidden.some((err) => err !== undefined)) {
          this.log.info({ err: forbidden.find((err) => err !== undefined) }, 'not allowed to create queues or table; assuming they exist')
        }
        this.log.info({
          queue: this.queues.queue.name,
          ...(this.shards.length > 1 ? { shards: this.shards.map((q) => q.name) } : {}),
          poisonQueue: this.queues.poison.name,
          table: this.table.client.tableName,
          batchSize: this.config.batchSize,
          maxInFlight: this.config.maxInFlight,
          maxBackoffMs: this.config.maxBackoffMs
        }, 'worker.started')
        this.emit('started')
        return
      } catch (err) {
        if (this.closing) return
        await this.backOff(err, 'worker.setup.failed')
      }
    }
  }

  /** A setup or receive that failed: counted, logged with when it is tried again, and waited out. */
  private async backOff (err: unknown, event: string): Promise<void> {
    this.lastStepAt = Date.now()
    this.stats.errors++
    const retryInMs = this.failing.next()
    this.log.warn({ err, retryInMs }, event)
    await this.sleep(retryInMs)
    this.lastStepAt = Date.now()
  }

  private async poll (): Promise<void> {
    const { batchSize, maxInFlight, visibilityTimeoutSeconds } = this.config
    const threshold = Math.min(batchSize, Math.ceil(maxInFlight / 2))
    const shards = this.shards
    // Each shard has its own idle back-off and is received from again once it is due:
    // at once after it returned messages, after its back-off when it was empty. So
    // each shard is polled as a lone queue would be, and the due ones take turns.
    const dueAt = shards.map(() => 0)
    let turn = 0
    while (!this.closing) {
      this.lastStepAt = Date.now()
      const room = maxInFlight - this.inFlight.size
      if (room < threshold) {
        await this.waitForRoom()
        continue
      }
      const now = Date.now()
      let index = -1
      for (let k = 0; k < shards.length && index < 0; k++) {
        const i = (turn + k) % shards.length
        if ((dueAt[i] as number) <= now) index = i
      }
      if (index < 0) {
        await this.sleep(Math.min(...dueAt) - now)
        continue
      }
      turn = (index + 1) % shards.length
      const shard = shards[index] as QueueClient
      let items: ReceivedItem[]
      try {
        const response = await shard.receiveMessages({
          numberOfMessages: Math.min(batchSize, room),
          visibilityTimeout: visibilityTimeoutSeconds,
          abortSignal: this.abort.signal
        })
        items = response.receivedMessageItems
      } catch (err) {
        if (this.closing) break
        await this.backOff(err, 'poll.failed')
        continue
      }
      this.stats.lastPollAt = new Date()
      this.lastStepAt = Date.now()
      this.failing.reset()
      this.emit('received', { queue: shard.name, count: items.length })
      for (const item of items) this.dispatch(item, shard)
      const idle = this.idle[index] as Backoff
      if (items.length > 0) {
        idle.reset()
        dueAt[index] = 0
      } else {
        dueAt[index] = Date.now() + idle.next()
      }
    }
  }

  private dispatch (item: ReceivedItem, queue: QueueClient): void {
    this.stats.received++
    this.log.debug({ messageId: item.messageId, dequeueCount: item.dequeueCount }, 'message.received')
    const received: ReceivedMessage = {
      messageId: item.messageId,
      dequeueCount: item.dequeueCount,
      insertedOn: item.insertedOn,
      messageText: item.messageText
    }
    const ref: MessageRef = { messageId: item.messageId, dequeueCount: item.dequeueCount }
    const task: Promise<void> = handleMessage(received, this.depsFor(item, queue))
      .then((outcome) => { this.count(outcome, ref) }, (err: unknown) => {
        // handleMessage does not throw; if a bug makes it, the message still comes back.
        this.stats.errors++
        this.log.error({ err, messageId: item.messageId }, 'message.crashed')
        this.emit('failed', { ...ref, attempt: item.dequeueCount, error: err })
      })
      .finally(() => {
        this.inFlight.delete(task)
        this.stats.inFlight = this.inFlight.size
        this.roomFreed?.()
      })
    this.inFlight.add(task)
    this.stats.inFlight = this.inFlight.size
  }

  /** What handling `item` may do: rewrite or delete it in the shard it came from, or poison it. */
  private depsFor (item: ReceivedItem, queue: QueueClient): LifecycleDeps {
    const { poison } = this.queues
    // updateMessage hands out a new pop receipt; later calls must use it.
    let popReceipt = item.popReceipt
    return {
      table: this.table,
      now: this.now,
      log: this.log,
      rules: this.rules,
      requeue: async (text, visibilitySeconds) => {
        try {
          const response = await queue.updateMessage(item.messageId, popReceipt, text, visibilitySeconds)
          popReceipt = response.popReceipt ?? popReceipt
          return true
        } catch (err) {
          if (notOurs(err)) return false
          throw err
        }
      },
      remove: async () => {
        try {
          await queue.deleteMessage(item.messageId, popReceipt)
          return true
        } catch (err) {
          if (notOurs(err)) return false
          throw err
        }
      },
      poison: async (text) => {
        // Never expires: someone has to look at it.
        await poison.sendMessage(text, { messageTimeToLive: -1 })
      }
    }
  }

  private count (outcome: Outcome, ref: MessageRef): void {
    this.stats.processed++
    this.stats[outcome.kind]++
    if (outcome.kind === 'failed') this.stats.errors++
    // A listener's bug must not become a message's failure.
    try {
      this.announce(outcome, ref)
    } catch (err) {
      this.log.error({ err, messageId: ref.messageId }, 'worker.listener.failed')
    }
  }

  private announce (outcome: Outcome, ref: MessageRef): void {
    switch (outcome.kind) {
      case 'activated':
        this.emit('activated', { ...ref, inserted: outcome.inserted, lagMs: outcome.lagMs, lost: outcome.lost })
        return
      case 'expired':
        this.emit('expired', { ...ref, result: outcome.result, lateMs: outcome.lateMs, lost: outcome.lost })
        return
      case 'requeued':
        this.emit('requeued', { ...ref, visibilitySeconds: outcome.visibilitySeconds, lost: outcome.lost })
        return
      case 'dropped':
        this.emit('dropped', { ...ref, reason: outcome.reason, lost: outcome.lost })
        return
      case 'poisoned':
        this.emit('poisoned', { ...ref, cause: outcome.cause, reason: outcome.reason })
        return
      case 'failed':
        this.emit('failed', { ...ref, attempt: outcome.attempt, error: outcome.error })
    }
  }

  private startSummary (): void {
    const intervalMs = this.config.summaryIntervalSeconds * 1000
    let last = { ...this.stats, at: Date.now() }
    this.summaryTimer = setInterval(() => {
      const now = Date.now()
      const s = this.stats
      const seconds = Math.max(0.001, (now - last.at) / 1000)
      this.log.info({
        processedPerSecond: Math.round((s.processed - last.processed) / seconds * 100) / 100,
        inFlight: s.inFlight,
        errors: s.errors - last.errors,
        activated: s.activated - last.activated,
        expired: s.expired - last.expired,
        poisoned: s.poisoned - last.poisoned,
        ready: this.notReady() === undefined
      }, 'worker.summary')
      last = { ...s, at: now }
    }, intervalMs)
    this.summaryTimer.unref()
  }

  private async sleep (ms: number): Promise<void> {
    if (this.closing) return
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.interruptSleep = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.interruptSleep = done
    })
  }

  private async waitForRoom (): Promise<void> {
    await new Promise<void>((resolve) => {
      this.roomFreed = () => {
        this.roomFreed = undefined
        resolve()
      }
    })
  }
}

/** A 403 (allowed to use, not to create) is returned; any other error is thrown. */
function rethrowUnlessForbidden (err: unknown): unknown {
  if (statusOf(err) === 403) return err
  throw err
}

/** Waits for `promise` until `deadline`; true if it settled in time. */
async function within (promise: Promise<unknown>, deadline: number): Promise<boolean> {
  return await withTimeout(promise.then(() => true), deadline - Date.now(), () => false)
}
