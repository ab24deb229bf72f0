/** How much load each mode puts on: `full` for the published figures, `quick` under two minutes, `smoke` for CI. */

export type ModeName = 'full' | 'quick' | 'smoke'

export interface Mode {
  name: ModeName
  getcode: {
    concurrencies: number[]
    durationMs: number
    warmupMs: number
  }
  worker: {
    /** Messages stored in the queue while the worker runs. */
    backlogs: number[]
  }
  transactions: {
    /** Codes issued as fast as the api takes them: the worker's batches fill up. */
    burstCodes: number
    /** Codes per second of the steady phase, each signed in once. */
    steadyRate: number
    steadySeconds: number
    ttlSeconds: number
    /** Window in which the idle worker's polls are counted. */
    idleSeconds: number
  }
  latency: {
    /** Codes issued one at a time into an idle system. */
    idleSamples: number
    /** Gap before each idle sample: long enough for the worker to reach its longest back-off. */
    idleGapMs: number
    steadyRate: number
    /** Steady phase: TTL (the queue reaches rate × TTL stored messages after one TTL), then the measured window. */
    steadyTtlSeconds: number
    steadySeconds: number
  }
  memory: {
    /** Mixed load before memory is read. */
    seconds: number
    /** Which node flag sets to run it with (`default`: those of the run; `recommended`: those plus the heap caps). */
    flagSets: ('default' | 'recommended')[]
  }
  signInCost: {
    /** Sign-ins of each kind (approved or refused, new or known address). */
    signIns: number
  }
  /** Worker runs per backlog and consumer, alternating which goes first; the best counts. */
  workerRepeats: number
  /** getcode and bare-loop runs per concurrency, alternating; the best counts. */
  getcodeRepeats: number
}

export const MODES: Record<ModeName, Mode> = {
  full: {
    name: 'full',
    getcode: { concurrencies: [1, 8, 32, 64], durationMs: 8000, warmupMs: 2000 },
    worker: { backlogs: [256, 1024, 2048] },
    transactions: { burstCodes: 1024, steadyRate: 50, steadySeconds: 10, ttlSeconds: 20, idleSeconds: 20 },
    latency: { idleSamples: 40, idleGapMs: 2500, steadyRate: 50, steadyTtlSeconds: 10, steadySeconds: 30 },
    memory: { seconds: 20, flagSets: ['default', 'recommended'] },
    signInCost: { signIns: 200 },
    workerRepeats: 3,
    getcodeRepeats: 2
  },
  quick: {
    name: 'quick',
    getcode: { concurrencies: [4, 32], durationMs: 2000, warmupMs: 500 },
    worker: { backlogs: [256, 512] },
    transactions: { burstCodes: 320, steadyRate: 50, steadySeconds: 2, ttlSeconds: 6, idleSeconds: 3 },
    latency: { idleSamples: 5, idleGapMs: 2000, steadyRate: 50, steadyTtlSeconds: 4, steadySeconds: 4 },
    memory: { seconds: 3, flagSets: ['recommended'] },
    signInCost: { signIns: 40 },
    workerRepeats: 1,
    getcodeRepeats: 1
  },
  smoke: {
    name: 'smoke',
    getcode: { concurrencies: [2], durationMs: 500, warmupMs: 200 },
    worker: { backlogs: [32] },
    // The burst's codes wait in the queue while the worker starts: on a loaded CI machine that took over 6 s.
    transactions: { burstCodes: 32, steadyRate: 10, steadySeconds: 1, ttlSeconds: 15, idleSeconds: 1 },
    latency: { idleSamples: 1, idleGapMs: 500, steadyRate: 10, steadyTtlSeconds: 2, steadySeconds: 1 },
    // One run, so the smoke test's memory check has a reading to check.
    memory: { seconds: 1, flagSets: ['default'] },
    signInCost: { signIns: 4 },
    workerRepeats: 1,
    getcodeRepeats: 1
  }
}
