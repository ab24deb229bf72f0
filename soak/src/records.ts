/**
 * What a soak run records: every getcode answer, every code, every sign-in,
 * every fault, and what was left at the end. All times are epoch ms on this
 * machine's clock, which every process shares.
 */
import type { FaultKind, SoakOptions } from './options.js'
import type { LogSummary } from './logs.js'
import type { WorkerEventSummary } from './worker-events.js'

export type Plan = 'none' | 'early' | 'once' | 'twice' | 'expired'

/** One answered (or unanswered) request to the api. */
export interface ApiCall {
  sentAt: number
  answeredAt: number
  /** 0: no answer (connection refused, client timeout). */
  status: number
  /** The JSON `error` field of an error answer; undefined when there was none. */
  error?: string
  /** Why there was no answer (the fetch error's cause code). */
  failure?: string
}

export interface IssuedCode {
  n: number
  code: string
  /** How logs and `npm run codes` name it: codeIdOf its hash. */
  codeId: string
  subject: string
  sentAt: number
  answeredAt: number
  /** The api's timestamp. */
  issuedAt: number
  expiresAt: number
  plan: Plan
  /** First proof the code was valid: a table read that found its row, or an approved sign-in, before expiresAt. */
  seenAt?: number
  seenBy?: 'table' | 'signin'
  /** Table reads that found no row before it was seen. */
  absentReads: number
  readErrors: number
  /** A row for this code string with another expiry (a different issue). */
  collision?: boolean
  /** Read at expiresAt + removal bound: was the row still there? */
  presentAtRemovalCheck?: boolean
  removalCheckedAt?: number
  /** First read after expiry that found no row. */
  goneSeenAt?: number
}

export type RowState = 'present' | 'consumed' | 'absent' | 'other' | 'error'

export type SignInKind =
  /** Right after getcode answered, usually before the worker activated it. */
  | 'early'
  /** At a random time while it should be valid. */
  | 'valid'
  /** Two at once while it should be valid: exactly one may pass. */
  | 'pair'
  /** After the code was used. */
  | 'again'
  /** After expiresAt. */
  | 'after-expiry'
  /** A code that was never issued. */
  | 'unknown'

export interface SignInAttempt extends ApiCall {
  /** The code's n, or -1 for an unknown code. */
  n: number
  kind: SignInKind
  /** Both halves of a pair share it. */
  pair?: number
  /** The row read just before the sign-in (early: just after). */
  row?: RowState
  rowAt?: number
}

/** One guess of the attacker: a made-up code from one of its addresses. */
export interface AttackAttempt extends ApiCall {
  address: string
  /** Which api replica it was sent to (0 = api, 1 = api-2). */
  api: number
  /** It named the subject of a code issued to an honest user. */
  honestSubject: boolean
}

export interface FaultRecord {
  kind: FaultKind
  target: string
  plannedAt: number
  startedAt: number
  /** When the part was gone (stopped, killed, exited). */
  downAt?: number
  /** When it answered again. */
  upAt?: number
  endedAt: number
  /** worker-kill with a burst: the worker was killed right after it logged an activation (mid-batch). */
  caughtBusy?: boolean
  /** Garbage: the ids sendMessage returned. */
  messageIds?: string[]
  /** Overload: requests kept in flight, and when every code issued until the flood ended had been seen valid (or the wait gave up). */
  connections?: number
  caughtUpAt?: number
  /** Overload: the codes' life, to place the expiries of the flood's codes. */
  ttlMs?: number
  error?: string
}

export interface FinalState {
  /** Messages left in code-requests (visible or not). */
  queueLength?: number
  queueError?: string
  /** Every message of code-requests-poison: the original's id and the reason. */
  poison: { messageId: string, reason: string }[]
  poisonError?: string
  tableRows?: number
  tableError?: string
  /** Issued codes found in clear in storage after the run (table entities, queue and poison messages, base64 decoded too). */
  codesAtRest?: { where: string, id: string }[]
  /** Entities and messages read for codesAtRest. */
  scannedAtRest?: number
}

export interface Crash {
  name: string
  code: number | null
  signal: string | null
  at: number
}

export interface SoakRecord {
  options: SoakOptions
  startedAt: number
  systemReadyAt: number
  loadStartedAt: number
  loadEndedAt: number
  drainEndedAt: number
  getcodes: ApiCall[]
  /** Ticks skipped because maxInFlight getcodes were waiting. */
  skipped: number
  codes: IssuedCode[]
  signIns: SignInAttempt[]
  /** The attacker's guesses, from many addresses, over both api replicas. */
  attack: AttackAttempt[]
  faults: FaultRecord[]
  final: FinalState
  crashes: Crash[]
  /** Services not running when the soak ended (all should be: killed workers are restarted). */
  notRunning: string[]
  /** Failures of the soak's own tasks (a bug in the soak, not in codegate): a run with any is not a pass. */
  soakErrors: string[]
  apiPidAtStart?: number
  apiPidAtEnd?: number
  logs: LogSummary
  /** What the workers announced over their IPC channels (worker-events.ts). */
  workerEvents: WorkerEventSummary
}
