/**
 * Figure 3b: storage transactions per sign-in, approved and refused, counted
 * at the proxy in front of Azurite and split by table: the codes table's
 * share is what a sign-in costs without limits (read, and merge when it
 * passes); the limits table's share is what the shared failure limits add.
 *
 * Each kind is measured from addresses the limits table has no row for
 * (a client's first sign-in in a window) and from addresses this api replica
 * wrote a row for moments before (its cached ETag); addresses are named in
 * X-Forwarded-For, which the bench's api trusts from loopback.
 */
import { getCode, withConcurrency, type ApiCaller } from '../client.js'
import { diff, type CountingProxy, type Counts } from '../counting-proxy.js'
import { round } from '../stats.js'
import type { BenchSystem } from '../system.js'

export type SignInKind = 'approved, new address' | 'approved, known address' | 'refused, new address' | 'refused, known address'

export interface SignInCost {
  kind: SignInKind
  signIns: number
  /** Answers other than the one this kind expects (200 or 401). */
  unexpected: number
  /** Table transactions per sign-in, in all and by table. */
  perSignIn: number
  codesTable: number
  limitsTable: number
  /** Per sign-in, by operation and table (`table.insert:@signinlimits`). */
  byOperation: Record<string, number>
}

export interface SignInCostFigures {
  signIns: number
  costs: SignInCost[]
  /** Limits-table transactions an approved sign-in may add. */
  target: number
  met: boolean
}

const LIMITS_TABLE = 'signinlimits'

async function signInFrom (api: ApiCaller, address: string, code: string): Promise<number> {
  const res = await fetch(`${api.url}/api/v1/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address, authorization: `Bearer ${api.verifyToken}` },
    body: JSON.stringify({ code })
  })
  await res.arrayBuffer()
  return res.status
}

function costOf (kind: SignInKind, signIns: number, unexpected: number, counts: Counts): SignInCost {
  const byOperation: Record<string, number> = {}
  let codesTable = 0
  let limitsTable = 0
  for (const [key, n] of Object.entries(counts)) {
    const table = /^table\.[a-z-]+:@(.+)$/.exec(key)?.[1]
    if (table === undefined) continue
    byOperation[key] = round(n / signIns, 3)
    if (table === LIMITS_TABLE) limitsTable += n
    else codesTable += n
  }
  return {
    kind,
    signIns,
    unexpected,
    perSignIn: round((codesTable + limitsTable) / signIns, 3),
    codesTable: round(codesTable / signIns, 3),
    limitsTable: round(limitsTable / signIns, 3),
    byOperation
  }
}

/**
 * Measured inside the transactions scenario, on its system and proxy (a
 * worker running): issues codes, waits until they are valid, then signs in.
 */
export async function measureSignInCost (bench: BenchSystem, proxy: CountingProxy, n: number, log: (line: string) => void): Promise<SignInCostFigures> {
  const { caller, events } = bench
  const address = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
  const unknown = (i: number): string => `zzz-${1 + (i % 1000)}-ZZZ`
  const validCodes = async (): Promise<string[]> => {
    const before = events.activated
    const issued = await withConcurrency(n, 8, async () => await getCode(caller))
    await bench.waitFor(() => events.activated - before, n, 60_000 + n * 100)
    return issued.map((c) => c.code)
  }
  const measure = async (kind: SignInKind, expected: number, call: (i: number) => Promise<number>): Promise<SignInCost> => {
    const before = proxy.snapshot()
    let unexpected = 0
    await withConcurrency(n, 8, async (i) => { if (await call(i) !== expected) unexpected++ })
    const cost = costOf(kind, n, unexpected, diff(proxy.snapshot(), before))
    log(`storage  sign-in, ${kind}: ${cost.perSignIn} table transactions (codes ${cost.codesTable}, limits ${cost.limitsTable})${unexpected > 0 ? `, ${unexpected} unexpected answers` : ''}`)
    return cost
  }
  const first = await validCodes()
  const approvedNew = await measure('approved, new address', 200, async (i) => await signInFrom(caller, address(i), first[i] as string))
  const second = await validCodes()
  const approvedKnown = await measure('approved, known address', 200, async (i) => await signInFrom(caller, address(i), second[i] as string))
  const costs = [
    approvedNew,
    approvedKnown,
    await measure('refused, new address', 401, async (i) => await signInFrom(caller, address(n + i), unknown(i))),
    await measure('refused, known address', 401, async (i) => await signInFrom(caller, address(i), unknown(i)))
  ]
  const target = 1
  return { signIns: n, costs, target, met: [approvedNew, approvedKnown].every((c) => c.limitsTable <= target && c.unexpected === 0) }
}
