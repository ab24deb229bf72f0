/**
 * What a soak run does: load, code life, fault schedule and the bounds the
 * invariants are checked against. Two profiles: the full run (a few minutes)
 * and `--quick` (under 90 s with startup and drain, run in CI).
 */
import { parseArgs } from 'node:util'
import { CodegateError } from '@codegate/shared/errors'

export type FaultKind = 'worker-kill' | 'azurite-restart' | 'number-api-down' | 'vault-down' | 'garbage' | 'overload'

export interface FaultPlan {
  kind: FaultKind
  /** Seconds after the load started. */
  atSeconds: number
  /** How long the part stays down (worker-kill: before the restart; overload: how long the flood lasts). */
  downSeconds?: number
  /** worker-kill: which worker (0 = "worker", 1 = "worker-2"). */
  worker?: number
  /** garbage: how many messages. */
  count?: number
  /**
   * worker-kill, azurite-restart: getcode requests sent at once just before
   * the fault, so the workers hold messages when it strikes (at a steady
   * 10–20 codes/s they are idle most of the time and a kill would catch nothing).
   */
  burst?: number
  /**
   * overload: getcode requests kept in flight for downSeconds, each sent again
   * as soon as it is answered: far past what the api takes at once
   * (OUTGOING_MAX_IN_FLIGHT + OUTGOING_MAX_WAITING, 128 by default).
   */
  connections?: number
}

/**
 * The bounds, all derived from the worker's settings so they say why they
 * are what they are. `slackMs` is for a loaded 2-core machine shared with
 * other jobs: invariants are about correctness, not speed.
 */
export interface Bounds {
  /** Idle cap of the worker's poll back-off (WORKER_MAX_BACKOFF_MS): the designed worst case before a code is valid. */
  maxBackoffMs: number
  /** Cap of the worker's back-off after a storage error (worker.ts ERROR_MAX_MS). */
  errorBackoffMs: number
  /** WORKER_VISIBILITY_TIMEOUT_SECONDS: how long a message held by a killed worker stays hidden. */
  visibilityMs: number
  slackMs: number
  /** Issue → row in the table, outside fault windows: idle cap + slack. */
  activationMs: number
  /** expiresAt → row gone, outside fault windows: the expire is hidden to the next whole second, then idle cap + slack. */
  removalMs: number
  /** A sign-in answered this close to the code's expiry is a boundary case, counted apart from the strict checks. */
  boundaryMarginMs: number
  /** After a fault ends, getcode must answer 200 again within this. */
  recoveryMs: number
  /** How long after an outage the api may still answer 5xx (requests that were already waiting). */
  apiGraceMs: number
}

/** The attacker: made-up codes from many addresses, subjects rotated, in parallel bursts, over every api replica. */
export interface AttackPlan {
  addresses: number
  /** Guesses per second, sent `burst` at a time. */
  perSecond: number
  burst: number
  /** SIGNIN_MAX_FAILURES as the apis run: no address may have more guesses judged (the lockout outlasts the run). */
  maxJudgedPerAddress: number
}

export interface SoakOptions {
  profile: 'quick' | 'full'
  /** getcode requests per second (open loop). */
  rate: number
  ttlSeconds: number
  loadSeconds: number
  workers: number
  /** Api replicas sharing the storage (and the sign-in limits). */
  apis: number
  attack: AttackPlan
  /** Share of codes that get a sign-in plan; the others are left alone to expire unused. */
  sampleShare: number
  /** Sign-ins per second with codes that were never issued. */
  unknownPerSecond: number
  /** Seed of every random choice (plans, times, garbage), so a run can be repeated. */
  seed: number
  /** getcode requests in flight at most; beyond it a tick is skipped (counted). */
  maxInFlight: number
  /** Wait at most this long after the last expiry for the queue to drain. */
  drainSeconds: number
  faults: FaultPlan[]
  bounds: Bounds
  /** Settings for every service (LOG_LEVEL, CODE_TTL_SECONDS, ...), after the soak's own. */
  env: Record<string, string>
  out?: string
  markdown?: string
  logFile?: string
  /** Re-render the figures of a past run (its --out JSON) instead of running. */
  render?: string
}

const FULL_FAULTS: FaultPlan[] = [
  { kind: 'worker-kill', atSeconds: 15, downSeconds: 5, worker: 0, burst: 40 },
  { kind: 'number-api-down', atSeconds: 40, downSeconds: 5 },
  { kind: 'azurite-restart', atSeconds: 65, downSeconds: 5, burst: 40 },
  { kind: 'vault-down', atSeconds: 95, downSeconds: 5 },
  { kind: 'garbage', atSeconds: 115, count: 60 },
  { kind: 'worker-kill', atSeconds: 140, downSeconds: 5, worker: 1, burst: 40 },
  // Two seconds, as in the quick run: the api admits what it can serve
  // (~130 codes/s here) and every code it admits must become valid within
  // the soak's 20 s TTL, on the same two cores the flood is using. Five
  // seconds (~1,000 codes, 50 live codes' worth of backlog per second of TTL)
  // left 108 codes activated only after they expired: the workers could not
  // work it off within one 20 s life. In production the TTL is 600 s.
  { kind: 'overload', atSeconds: 160, downSeconds: 2, connections: 400 }
]

// Compressed, most disruptive first: codes issued just before the Azurite
// restart need the most time, and a later restart would push the drain past 90 s.
const QUICK_FAULTS: FaultPlan[] = [
  { kind: 'azurite-restart', atSeconds: 4, downSeconds: 2, burst: 20 },
  { kind: 'worker-kill', atSeconds: 13, downSeconds: 2, worker: 1, burst: 20 },
  { kind: 'garbage', atSeconds: 23, count: 24 },
  { kind: 'number-api-down', atSeconds: 24, downSeconds: 2 },
  { kind: 'vault-down', atSeconds: 28, downSeconds: 2 },
  { kind: 'overload', atSeconds: 32, downSeconds: 2, connections: 200 }
]

/**
 * When a planned fault is over, at the earliest: a worker-kill lasts until
 * what the worker held is due back (its visibility timeout and slack after
 * the kill), so that the redelivery is counted in its own window.
 */
export function plannedEndSeconds (fault: FaultPlan, bounds: Bounds): number {
  const redelivery = fault.kind === 'worker-kill' ? (bounds.visibilityMs + bounds.slackMs) / 1000 : 0
  return fault.atSeconds + (fault.downSeconds ?? 0) + redelivery
}

export const WORKER_ERROR_BACKOFF_MS = 5000

export function boundsFor (env: Record<string, string>): Bounds {
  const maxBackoffMs = Number(env.WORKER_MAX_BACKOFF_MS ?? 1000)
  const visibilityMs = Number(env.WORKER_VISIBILITY_TIMEOUT_SECONDS ?? 30) * 1000
  const slackMs = 2000
  return {
    maxBackoffMs,
    errorBackoffMs: Math.max(WORKER_ERROR_BACKOFF_MS, maxBackoffMs),
    visibilityMs,
    slackMs,
    activationMs: maxBackoffMs + slackMs,
    removalMs: 1000 + maxBackoffMs + slackMs,
    boundaryMarginMs: 250,
    recoveryMs: 10_000,
    apiGraceMs: 2000
  }
}

/** The services' settings a soak needs, before any `--set`. */
export function soakEnv (ttlSeconds: number): Record<string, string> {
  return {
    LOG_LEVEL: 'info',
    CODE_TTL_SECONDS: String(ttlSeconds),
    // All load comes from one address: the per-client request limit would refuse it.
    RATE_LIMIT_MAX: '1000000',
    // Sign-ins name their client in X-Forwarded-For: each honest user, and each
    // attacker address, is a client of its own, as behind the ingress.
    TRUST_PROXY: '127.0.0.1',
    // Longer than any run: an attacker address's failures are never forgotten mid-run.
    SIGNIN_LOCKOUT_SECONDS: '3600',
    WORKER_MAX_BACKOFF_MS: '1000',
    // A message held by a killed worker (or whose release failed during a
    // storage outage) comes back after this; it must be well under the TTL,
    // or such codes expire before they are ever valid (docs/reliability.md).
    WORKER_VISIBILITY_TIMEOUT_SECONDS: '5',
    WORKER_SUMMARY_INTERVAL_SECONDS: '10'
  }
}

export class UsageError extends CodegateError {
  constructor (message: string) {
    super('SOAK_USAGE', message)
  }
}

export const USAGE = `usage: npm run soak -- [--quick] [options]
  --quick               the CI profile: under 90 s with startup and drain
  --rate N              getcode requests per second (full 20, quick 10)
  --ttl S               code life in seconds (full 20, quick 15)
  --duration S          seconds of load (full 180, quick 35)
  --seed N              seed of every random choice (default 1)
  --workers N           worker processes (default 2; the faults kill workers 1 and 2)
  --shards N            queue shards, QUEUE_SHARDS for api and workers (default 1: the single queue)
  --no-faults           the same load without faults (a baseline)
  --attack-rate N       attacker guesses per second over both apis (full 20, quick 10; 0: no attacker)
  --set NAME=VALUE      a service setting, e.g. --set WORKER_VISIBILITY_TIMEOUT_SECONDS=30 (repeatable)
  --out FILE            write the figures as JSON
  --markdown FILE       write the figures as a Markdown table
  --log-file FILE       keep every captured log line (default: a temporary file, kept when the soak fails)
  --render FILE         run nothing: print the table (and --markdown) again from a run's --out JSON`

function positive (name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--${name} must be a positive number, got ${text}`)
  return value
}

export function parseOptions (argv: string[]): SoakOptions {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        rate: { type: 'string' },
        ttl: { type: 'string' },
        duration: { type: 'string' },
        seed: { type: 'string' },
        workers: { type: 'string' },
        shards: { type: 'string' },
        'no-faults': { type: 'boolean', default: false },
        'attack-rate': { type: 'string' },
        set: { type: 'string', multiple: true, default: [] },
        out: { type: 'string' },
        markdown: { type: 'string' },
        'log-file': { type: 'string' },
        render: { type: 'string' },
        help: { type: 'boolean', default: false }
      },
      strict: true,
      allowPositionals: false
    })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  const { values } = parsed
  if (values.help === true) throw new UsageError('')
  const quick = values.quick === true
  const rate = positive('rate', values.rate, quick ? 10 : 20)
  const ttlSeconds = Math.round(positive('ttl', values.ttl, quick ? 15 : 20))
  const loadSeconds = positive('duration', values.duration, quick ? 43 : 180)
  const seed = Math.round(positive('seed', values.seed, 1))
  const attackRate = values['attack-rate'] === '0' ? 0 : positive('attack-rate', values['attack-rate'], quick ? 10 : 20)
  const workers = Math.round(positive('workers', values.workers, 2))
  const shards = Math.round(positive('shards', values.shards, 1))
  const env = soakEnv(ttlSeconds)
  if (shards > 1) env.QUEUE_SHARDS = String(shards)
  for (const setting of values.set ?? []) {
    const eq = setting.indexOf('=')
    if (eq <= 0) throw new UsageError(`--set takes NAME=VALUE, got ${setting}`)
    env[setting.slice(0, eq)] = setting.slice(eq + 1)
  }
  env.CODE_TTL_SECONDS = String(ttlSeconds)
  const faults = values['no-faults'] === true ? [] : (quick ? QUICK_FAULTS : FULL_FAULTS)
  const late = faults.find((f) => f.atSeconds + (f.downSeconds ?? 0) >= loadSeconds)
  if (late !== undefined) throw new UsageError(`the ${late.kind} fault at ${late.atSeconds} s does not end within --duration ${loadSeconds}; use --no-faults for short runs`)
  const missing = faults.find((f) => f.worker !== undefined && f.worker >= workers)
  if (missing !== undefined) throw new UsageError(`the ${missing.kind} fault at ${missing.atSeconds} s kills worker ${(missing.worker ?? 0) + 1}, but --workers is ${workers}`)
  return {
    profile: quick ? 'quick' : 'full',
    rate,
    ttlSeconds,
    loadSeconds,
    workers,
    apis: 2,
    attack: {
      addresses: quick ? 20 : 100,
      perSecond: attackRate,
      burst: 5,
      maxJudgedPerAddress: Number(env.SIGNIN_MAX_FAILURES ?? 5)
    },
    sampleShare: quick ? 0.5 : 0.3,
    unknownPerSecond: 1,
    seed,
    maxInFlight: Math.max(20, Math.ceil(rate * 3)),
    drainSeconds: quick ? 20 : 60,
    faults,
    bounds: boundsFor(env),
    env,
    ...(values.out !== undefined ? { out: values.out } : {}),
    ...(values.markdown !== undefined ? { markdown: values.markdown } : {}),
    ...(values['log-file'] !== undefined ? { logFile: values['log-file'] } : {}),
    ...(values.render !== undefined ? { render: values.render } : {})
  }
}
