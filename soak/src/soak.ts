/**
 * One soak run: the whole system (Azurite, dev-vault, number-api, api, two
 * workers) under a steady getcode load, sign-ins at chosen moments of the
 * codes' lives, faults on a schedule, then a drain and a look at what is
 * left in the queue, the poison queue and the table. It records; analyze.ts
 * judges.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CodeHasher, codeIdOf } from '@codegate/shared/code-hash'
import { DevTokenCredential } from '@codegate/shared/credentials'
import { decodePoison, type PoisonNote } from '@codegate/shared/message'
import { parseTimestamp } from '@codegate/shared/time'
import { connectionStringFor, DEV_ACCOUNT_KEY, Random, startLocalSystem, startTcpProxy, type LocalSystem, type TcpProxy } from '@codegate/stack'
import { getCode, signIn } from './api-client.js'
import { AtRestScan } from './at-rest.js'
import { address, drawFor, honestAddress, unknownCode, type Draw } from './draws.js'
import { injectFault } from './faults.js'
import { LogWatch } from './logs.js'
import { WorkerEventWatch } from './worker-events.js'
import type { SoakOptions } from './options.js'
import type { ApiCall, AttackAttempt, Crash, FinalState, IssuedCode, RowState, SignInAttempt, SignInKind, SoakRecord } from './records.js'
import { SoakStorage, storageConfigOf } from './storage.js'
import { TaskGroup } from './tasks.js'

/** The app roles the api wants (AUTH_ISSUE_ROLE, AUTH_VERIFY_ROLE defaults). */
const ISSUE_ROLE = 'Codes.Issue'
const VERIFY_ROLE = 'Codes.Verify'

export interface RunHooks {
  /** What the system's processes inherit (PATH, HOME, ...) is picked from this: the entry point's process.env. */
  baseEnv: Record<string, string | undefined>
  progress?: (message: string) => void
  /** Aborting ends the load and the drain early; the system is still stopped. */
  signal?: AbortSignal
}

/**
 * The first read of a code's row, after issue: early enough to time most
 * activations even when the worker's activated event is lost (a SIGKILL between the
 * insert and the event), late enough that most codes need only this one read.
 */
const FIRST_READ_MS = 500
/** How often an unseen code's row is read again until it shows up. */
const ACTIVATION_POLL_MS = 250
const REMOVAL_POLL_MS = 1000
/** Valid sign-ins are made at least this long before expiry, so the answer comes back before it. */
const VALID_BEFORE_EXPIRY_MS = 2000

export class SoakRun {
  readonly #options: SoakOptions
  readonly #random: Random
  /** Bursts draw from their own sequence, so the load's draws stay the same from run to run. */
  readonly #burstRandom: Random
  #bursts = 0
  readonly #progress: (message: string) => void
  readonly #runId = Date.now().toString(36)
  /** Every task of the run; halting it ends every sleep: at the drain deadline, or when the caller aborts. */
  readonly #tasks: TaskGroup
  readonly #issuedCodes = new Set<string>()
  #deadline = Number.POSITIVE_INFINITY
  #inFlight = 0
  #pairs = 0
  /** Round robin over the api replicas. */
  #calls = 0
  #system: LocalSystem | undefined
  /** Each worker's table goes through a proxy of its own (by worker name), for the worker-kill fault. */
  readonly #tableProxies = new Map<string, TcpProxy>()
  #storage: SoakStorage | undefined
  /** The system's code hash key: how the soak names codes as the logs do. */
  #hasher: CodeHasher | undefined
  #atRest: AtRestScan | undefined
  #logs: LogWatch | undefined

  readonly #baseEnv: Record<string, string | undefined>

  readonly record: Omit<SoakRecord, 'logs' | 'workerEvents'>
  readonly #workerEvents = new WorkerEventWatch()

  constructor (options: SoakOptions, hooks: RunHooks) {
    this.#options = options
    this.#baseEnv = hooks.baseEnv
    this.#random = new Random(options.seed)
    this.#progress = hooks.progress ?? (() => {})
    this.#tasks = new TaskGroup((text) => {
      this.record.soakErrors.push(text)
      this.#progress(`soak task failed: ${text}`)
    })
    hooks.signal?.addEventListener('abort', () => { this.#tasks.halt(hooks.signal?.reason) }, { once: true })
    this.#burstRandom = new Random(options.seed + 1)
    this.record = {
      options,
      startedAt: Date.now(),
      systemReadyAt: 0,
      loadStartedAt: 0,
      loadEndedAt: 0,
      drainEndedAt: 0,
      getcodes: [],
      skipped: 0,
      codes: [],
      signIns: [],
      attack: [],
      faults: [],
      final: { poison: [] },
      crashes: [],
      notRunning: [],
      soakErrors: []
    }
  }

  get #stopped (): boolean {
    return this.#tasks.stopped
  }

  async run (): Promise<SoakRecord> {
    const options = this.#options
    const key = `soak-${randomBytes(16).toString('hex')}`
    const devToken = (await new DevTokenCredential().getToken()).token
    this.#logs = new LogWatch([
      { label: 'third-party API key', value: key },
      { label: 'dev token', value: devToken },
      { label: 'storage account key', value: DEV_ACCOUNT_KEY }
    ], options.logFile)
    const logs = this.#logs
    try {
      const system = await this.#start(key, logs)
      this.record.loadStartedAt = Date.now()
      await Promise.all([this.#load(), this.#injectFaults(), this.#attack()])
      this.record.loadEndedAt = Date.now()
      // While the last codes are still live: their rows and (hidden) messages exist now.
      await this.#scanAtRest(system)
      await this.#drain()
      this.record.drainEndedAt = Date.now()
      await this.#inspect(system)
    } finally {
      this.#tasks.halt()
      await this.#tasks.settled()
      this.#progress('stopping the system')
      await this.#system?.stop()
      await Promise.allSettled([...this.#tableProxies.values()].map(async (proxy) => { await proxy.close() }))
      await logs.close()
    }
    return { ...this.record, logs: logs.summary(this.#issuedCodes, (code) => this.#idOf(code)), workerEvents: this.#workerEvents.summary() }
  }

  /** The system, each worker's table behind a proxy of its own, and the soak's tokens and storage clients. */
  async #start (key: string, logs: LogWatch): Promise<LocalSystem> {
    const options = this.#options
    const crashes: Crash[] = this.record.crashes
    this.#progress(`starting the system (${options.apis} apis, ${options.workers} workers)`)
    const system = await startLocalSystem({
      env: options.env,
      baseEnv: this.#baseEnv,
      workers: options.workers,
      apis: options.apis,
      thirdPartyApiKey: key,
      workerStorage: async (index, azurite) => {
        const proxy = await startTcpProxy({ host: azurite.host, port: azurite.tablePort })
        this.#tableProxies.set(index === 0 ? 'worker' : `worker-${index + 1}`, proxy)
        return connectionStringFor(azurite.host, azurite.queuePort, proxy.port)
      },
      onLine: (name, line) => { logs.line(name, line) },
      onWorkerMessage: (name, message) => { this.#workerEvents.message(name, message) },
      onCrash: (name, exit) => {
        crashes.push({ name, code: exit.code, signal: exit.signal, at: Date.now() })
        this.#progress(`CRASH: ${name} exited (code ${String(exit.code)}, signal ${String(exit.signal)})`)
      },
      signal: this.#tasks.signal
    })
    this.#system = system
    this.#hasher = new CodeHasher({ version: '', value: system.codeHashKey })
    logs.watch({ label: 'code hash key', value: system.codeHashKey })
    this.#atRest = new AtRestScan(this.#issuedCodes)
    // Before any fault can take dev-vault down.
    await Promise.all([system.tokens.get(ISSUE_ROLE), system.tokens.get(VERIFY_ROLE)])
    this.record.systemReadyAt = Date.now()
    this.record.apiPidAtStart = system.api.pid
    this.#storage = new SoakStorage(storageConfigOf(options, system.connectionString), this.#hasher)
    this.#progress(`system ready in ${((this.record.systemReadyAt - this.record.startedAt) / 1000).toFixed(1)} s; ` +
      `load: ${options.rate} codes/s, TTL ${options.ttlSeconds} s, ${options.loadSeconds} s, ${options.faults.length} faults; ` +
      `attacker: ${options.attack.perSecond} guesses/s from ${options.attack.addresses} addresses`)
    return system
  }

  /** What is left once the load drained: the queues, the table, codes at rest, and which processes still run. */
  async #inspect (system: LocalSystem): Promise<void> {
    this.record.final = await this.#finalState()
    await this.#scanAtRest(system)
    const scan = this.#need(this.#atRest)
    this.record.final.codesAtRest = scan.hits.map((h) => ({ where: h.where, id: this.#idOf(h.code) }))
    this.record.final.scannedAtRest = scan.scanned
    this.record.apiPidAtEnd = system.api.pid
    this.record.notRunning = [
      ...system.services().filter((s) => !s.running).map((s) => s.name),
      ...(system.azurite.pids.length < 2 ? ['azurite'] : [])
    ]
  }

  async #load (): Promise<void> {
    const { rate, loadSeconds, maxInFlight, unknownPerSecond } = this.#options
    const start = this.record.loadStartedAt
    const end = start + loadSeconds * 1000
    const interval = 1000 / rate
    const unknownEvery = Math.max(1, Math.round(rate / unknownPerSecond))
    for (let i = 0; !this.#stopped; i++) {
      const due = start + i * interval
      if (due >= end) break
      try {
        await this.#tasks.sleepUntil(due)
      } catch {
        break
      }
      const draw = drawFor(this.#random, this.#options.sampleShare)
      const unknown = i % unknownEvery === 0 ? unknownCode(this.#random) : undefined
      if (this.#inFlight >= maxInFlight) this.record.skipped++
      else this.#tasks.track(this.#issue(i, draw))
      if (unknown !== undefined) this.#tasks.track(this.#signInUnknown(i, unknown))
    }
  }

  async #injectFaults (): Promise<void> {
    const start = this.record.loadStartedAt
    for (const plan of this.#options.faults) {
      const plannedAt = start + plan.atSeconds * 1000
      try {
        await this.#tasks.sleepUntil(plannedAt)
      } catch {
        return
      }
      this.#progress(`fault at +${((Date.now() - start) / 1000).toFixed(1)} s: ${plan.kind}${plan.downSeconds !== undefined ? ` (${plan.downSeconds} s)` : ''}`)
      const record = await injectFault(plan, plannedAt, {
        system: this.#need(this.#system),
        queue: this.#need(this.#storage).garbageQueue(),
        random: this.#random,
        burst: async (count) => { await this.#burst(count) },
        flood: async (connections, ms) => { await this.#flood(connections, ms) },
        caughtUp: async (timeoutMs) => { await this.#caughtUp(timeoutMs) },
        ttlMs: this.#options.ttlSeconds * 1000,
        tableProxyOf: (name) => this.#tableProxies.get(name),
        redeliveryMs: this.#options.bounds.visibilityMs + this.#options.bounds.slackMs
      })
      this.record.faults.push(record)
      if (record.error !== undefined) this.#progress(`fault ${plan.kind} could not be injected: ${record.error}`)
    }
  }

  async #burst (count: number): Promise<void> {
    let answered = 0
    let half: () => void = () => {}
    const halfAnswered = new Promise<void>((resolve) => { half = resolve })
    // Numbered apart from the load's ticks: burst b's codes are b·1,000,000 + k.
    const base = 1_000_000 * ++this.#bursts
    for (let k = 0; k < count; k++) {
      const n = base + k
      const draw = drawFor(this.#burstRandom, this.#options.sampleShare)
      this.#tasks.track(this.#issue(n, draw).finally(() => { if (++answered >= count / 2) half() }))
    }
    await halfAnswered
  }

  /** The next api replica's base URL, round robin: the limits must hold across them. */
  #apiUrl (): string {
    const apis = this.#need(this.#system).apis
    return (apis[this.#calls++ % apis.length] as { url: string }).url
  }

  /**
   * The attacker: bursts of made-up codes from a pool of addresses, each
   * guess naming a new subject, or the subject of a code an honest user holds
   * (to try to lock them out), spread over every api replica.
   */
  async #attack (): Promise<void> {
    const { addresses, perSecond, burst } = this.#options.attack
    if (perSecond <= 0) return
    const random = new Random(this.#options.seed + 2)
    const start = this.record.loadStartedAt
    const end = start + this.#options.loadSeconds * 1000
    const apis = this.#need(this.#system).apis
    for (let tick = 0; !this.#stopped; tick++) {
      const due = start + tick * burst * 1000 / perSecond
      if (due >= end) break
      try {
        await this.#tasks.sleepUntil(due)
      } catch {
        break
      }
      for (let k = 0; k < burst; k++) {
        const i = tick * burst + k
        const from = address(13, random.int(addresses))
        const api = i % apis.length
        const recent = this.record.codes.at(-1 - random.int(Math.min(20, this.record.codes.length) || 1))
        const honest = recent !== undefined && random.next() < 0.3
        const subject = honest ? recent.subject : `atk.${this.#runId}.${i}`
        const code = unknownCode(random)
        this.#tasks.track((async () => {
          const call = await signIn((apis[api] as { url: string }).url, code, subject, from, await this.#token(VERIFY_ROLE))
          if (this.#issuedCodes.has(code)) return
          const attempt: AttackAttempt = { ...call, address: from, api, honestSubject: honest }
          this.record.attack.push(attempt)
        })())
      }
    }
  }

  /** Closed loops of getcode, one per connection, for `ms`: every answer, 503 or 200, is followed by the next request at once. */
  async #flood (connections: number, ms: number): Promise<void> {
    const end = Date.now() + ms
    const base = 1_000_000 * ++this.#bursts
    let k = 0
    const loop = async (): Promise<void> => {
      while (Date.now() < end && !this.#stopped) await this.#issue(base + k++, drawFor(this.#burstRandom, this.#options.sampleShare))
    }
    const loops = Array.from({ length: connections }, loop)
    for (const l of loops) this.#tasks.track(l)
    await Promise.allSettled(loops)
  }

  async #caughtUp (timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs
    const behind = (): boolean => this.record.codes.some((c) => c.seenAt === undefined && Date.now() < c.expiresAt)
    while (behind() && Date.now() < until && !this.#stopped) await sleep(250)
  }

  /**
   * The api's token for a role, cached by the system's token source. Fetched
   * once at start; renewing it while dev-vault is down (a soak fault) fails,
   * and the call then goes without one and is recorded as the 401 it gets.
   */
  async #token (role: string): Promise<string | undefined> {
    return await this.#need(this.#system).tokens.get(role).catch(() => undefined)
  }

  #need<T> (value: T | undefined): T {
    if (value === undefined) throw new Error('the system is not running')
    return value
  }

  async #issue (n: number, draw: Draw): Promise<void> {
    const system = this.#need(this.#system)
    const subject = `soak.${this.#runId}.${n}`
    this.#inFlight++
    let answer
    try {
      answer = await getCode(`${this.#apiUrl()}/api/v1/getcode`, subject, await this.#token(ISSUE_ROLE))
    } finally {
      this.#inFlight--
    }
    this.record.getcodes.push(answer.call)
    const issued = answer.issued
    if (issued === undefined) return
    const issuedAt = parseTimestamp(issued.timestamp)?.getTime()
    const expiresAt = Date.parse(issued.expiresAt)
    if (issuedAt === undefined || Number.isNaN(expiresAt)) {
      answer.call.error = 'malformed 200 answer'
      return
    }
    const code: IssuedCode = {
      n,
      code: issued.code,
      codeId: this.#idOf(issued.code),
      subject,
      sentAt: answer.call.sentAt,
      answeredAt: answer.call.answeredAt,
      issuedAt,
      expiresAt,
      plan: draw.plan,
      absentReads: 0,
      readErrors: 0
    }
    this.record.codes.push(code)
    this.#issuedCodes.add(code.code)
    this.#tasks.track(this.#watch(code))
    if (draw.plan !== 'none') this.#tasks.track(this.#runPlan(code, draw))
  }

  /** Reads the code's row; a row seen before expiry is proof the code was valid. */
  async #read (c: IssuedCode): Promise<{ state: RowState, at: number }> {
    const state = await this.#need(this.#storage).rowState(c)
    const at = Date.now()
    if (state === 'error') c.readErrors++
    if (state === 'other') c.collision = true
    if ((state === 'present' || state === 'consumed') && at < c.expiresAt) this.#seen(c, at, 'table')
    return { state, at }
  }

  #seen (c: IssuedCode, at: number, by: 'table' | 'signin'): void {
    if (c.seenAt === undefined || at < c.seenAt) {
      c.seenAt = at
      c.seenBy = by
    }
  }

  /** Activation: read soon after issue until the row shows up. Removal: read from expiry + bound until it is gone. */
  async #watch (c: IssuedCode): Promise<void> {
    const { activationMs, removalMs } = this.#options.bounds
    await this.#tasks.sleepUntil(c.issuedAt + Math.min(FIRST_READ_MS, activationMs))
    while (c.seenAt === undefined && Date.now() < c.expiresAt) {
      const { state } = await this.#read(c)
      if (state === 'present' || state === 'consumed') break
      if (state === 'absent') c.absentReads++
      await this.#tasks.sleepUntil(Math.min(Date.now() + ACTIVATION_POLL_MS, c.expiresAt))
    }
    await this.#tasks.sleepUntil(c.expiresAt + removalMs)
    for (;;) {
      const { state, at } = await this.#read(c)
      if (state !== 'error') {
        const gone = state === 'absent' || state === 'other'
        if (c.removalCheckedAt === undefined) {
          c.removalCheckedAt = at
          c.presentAtRemovalCheck = !gone
        }
        if (gone) {
          c.goneSeenAt = at
          return
        }
      }
      if (Date.now() >= this.#deadline) return
      await this.#tasks.sleepUntil(Date.now() + REMOVAL_POLL_MS)
    }
  }

  async #signIn (c: IssuedCode, kind: SignInKind, row?: { state: RowState, at: number }, pair?: number): Promise<SignInAttempt> {
    const call: ApiCall = await signIn(this.#apiUrl(), c.code, c.subject, honestAddress(c.n), await this.#token(VERIFY_ROLE))
    const attempt: SignInAttempt = { ...call, n: c.n, kind, ...(pair !== undefined ? { pair } : {}), ...(row !== undefined ? { row: row.state, rowAt: row.at } : {}) }
    this.record.signIns.push(attempt)
    if (call.status === 200 && call.sentAt < c.expiresAt) this.#seen(c, call.answeredAt, 'signin')
    return attempt
  }

  async #runPlan (c: IssuedCode, draw: Draw): Promise<void> {
    const { activationMs } = this.#options.bounds
    const from = c.issuedAt + activationMs
    const to = Math.max(from, c.expiresAt - VALID_BEFORE_EXPIRY_MS)
    const validAt = from + draw.validAt * (to - from)
    const lateAt = c.expiresAt + 50 + draw.lateBy * 1500
    switch (c.plan) {
      case 'early': {
        // Sign in first, read after: a row absent after a refusal was absent during it (rows never vanish before expiry).
        const attempt = await this.#signIn(c, 'early')
        const row = await this.#read(c)
        attempt.row = row.state
        attempt.rowAt = row.at
        return
      }
      case 'once': {
        await this.#tasks.sleepUntil(validAt)
        await this.#signIn(c, 'valid', await this.#read(c))
        await this.#tasks.sleepUntil(lateAt)
        await this.#signIn(c, 'after-expiry', await this.#read(c))
        return
      }
      case 'twice': {
        await this.#tasks.sleepUntil(validAt)
        const row = await this.#read(c)
        const pair = this.#pairs++
        await Promise.all([this.#signIn(c, 'pair', row, pair), this.#signIn(c, 'pair', row, pair)])
        await this.#signIn(c, 'again', await this.#read(c))
        return
      }
      case 'expired': {
        await this.#tasks.sleepUntil(lateAt)
        await this.#signIn(c, 'after-expiry', await this.#read(c))
        return
      }
      case 'none':
        return
    }
  }

  async #signInUnknown (i: number, code: string): Promise<void> {
    const call = await signIn(this.#apiUrl(), code, `soak.${this.#runId}.u${i}`, address(12, i), await this.#token(VERIFY_ROLE))
    // A made-up code that happens to equal an issued one is not "unknown".
    if (this.#issuedCodes.has(code)) return
    this.record.signIns.push({ ...call, n: -1, kind: 'unknown' })
  }

  /** Waits until every code has been seen gone and the queue is empty, or the deadline passes. */
  async #drain (): Promise<void> {
    const { bounds, drainSeconds } = this.#options
    const lastExpiry = Math.max(this.record.loadEndedAt, ...this.record.codes.map((c) => c.expiresAt))
    this.#deadline = lastExpiry + bounds.removalMs + drainSeconds * 1000
    this.#progress(`load done (${this.record.codes.length} codes); draining until every code is gone and the queue is empty ` +
      `(at most ${((this.#deadline - Date.now()) / 1000).toFixed(0)} s)`)
    const timer = setTimeout(() => { this.#tasks.halt(new Error('drain deadline')) }, Math.max(0, this.#deadline - Date.now()))
    const storage = this.#need(this.#storage)
    try {
      while (this.#tasks.size > 0 && !this.#stopped) {
        await Promise.race([this.#tasks.settled(), sleep(1000)])
      }
      while (!this.#stopped) {
        const length = await storage.queueLength().catch(() => undefined)
        if (length === 0) return
        await sleep(500, undefined, { signal: this.#tasks.signal }).catch(() => {})
      }
    } finally {
      clearTimeout(timer)
    }
  }

  #idOf (code: string): string {
    return this.#hasher === undefined ? '?' : codeIdOf(this.#hasher.hash(code))
  }

  /** Issued codes in clear anywhere in storage (SoakStorage.scanAtRest); a scan that fails is a soak error. */
  async #scanAtRest (system: LocalSystem): Promise<void> {
    try {
      await this.#need(this.#storage).scanAtRest(this.#need(this.#atRest), system.azurite.location)
    } catch (err) {
      this.record.soakErrors.push(`at-rest scan: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  async #finalState (): Promise<FinalState> {
    const final: FinalState = { poison: [] }
    const storage = this.#need(this.#storage)
    try {
      final.queueLength = await storage.queueLength()
    } catch (err) {
      final.queueError = err instanceof Error ? err.message : String(err)
    }
    try {
      // Received (hidden for 10 minutes), never deleted: the poison queue dies with the run's Azurite.
      for (;;) {
        const { receivedMessageItems } = await storage.queues.poison.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 600 })
        if (receivedMessageItems.length === 0) break
        for (const item of receivedMessageItems) {
          final.poison.push(readPoison(item.messageText))
          this.#atRest?.text('queue poison', item.messageText)
        }
      }
    } catch (err) {
      final.poisonError = err instanceof Error ? err.message : String(err)
    }
    try {
      final.tableRows = await storage.tableRows()
    } catch (err) {
      final.tableError = err instanceof Error ? err.message : String(err)
    }
    return final
  }
}

/** A poison message's original id and reason (the codec's record); an unreadable one says so. */
export function readPoison (text: string): PoisonNote {
  try {
    return decodePoison(text)
  } catch {
    return { messageId: '', reason: 'unreadable poison message' }
  }
}

export async function runSoak (options: SoakOptions, hooks: RunHooks): Promise<SoakRecord> {
  return await new SoakRun(options, hooks).run()
}
