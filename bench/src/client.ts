/** The bench's own calls to the api: getcode and sign-in, over keep-alive connections (fetch), each with its access token. */
import { setTimeout as sleep } from 'node:timers/promises'

/** An api and the tokens its two routes want (from dev-vault's issuer; ignored by an api with AUTH_MODE=none). */
export interface ApiCaller {
  url: string
  issueToken: string
  verifyToken: string
}

export interface Issued {
  code: string
  /** performance.now() when the answer had arrived. */
  answeredAt: number
  /** getcode's own latency, ms. */
  latencyMs: number
}

/** getcode answered something other than a code: `status` says what (503 is the api shedding load). */
export class GetcodeRefused extends Error {
  constructor (readonly status: number) {
    super(`getcode answered ${status}`)
    this.name = 'GetcodeRefused'
  }
}

export async function getCode (api: ApiCaller): Promise<Issued> {
  const t0 = performance.now()
  const res = await fetch(`${api.url}/api/v1/getcode`, { headers: { authorization: `Bearer ${api.issueToken}` } })
  const body = await res.json() as { code?: string }
  const answeredAt = performance.now()
  if (res.status !== 200 || typeof body.code !== 'string') throw new GetcodeRefused(res.status)
  return { code: body.code, answeredAt, latencyMs: answeredAt - t0 }
}

/**
 * A getcode that may be shed: 'shed' when the api answers 503 (it refuses work
 * while its event loop lags; a run on a busy machine meets it), the code
 * otherwise; any other refusal still throws.
 */
export async function getCodeOrShed (api: ApiCaller): Promise<Issued | 'shed'> {
  try {
    return await getCode(api)
  } catch (err) {
    if (err instanceof GetcodeRefused && err.status === 503) return 'shed'
    throw err
  }
}

export async function signIn (api: ApiCaller, code: string): Promise<number> {
  const res = await fetch(`${api.url}/api/v1/signin`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${api.verifyToken}` }, body: JSON.stringify({ code }) })
  await res.arrayBuffer()
  return res.status
}

/** Tries sign-in every `intervalMs` until it passes; the ms from `from` to the passing answer, or undefined after `timeoutMs`. */
export async function signInWhenValid (api: ApiCaller, code: string, from: number, intervalMs: number, timeoutMs: number): Promise<number | undefined> {
  while (performance.now() - from < timeoutMs) {
    const status = await signIn(api, code)
    if (status === 200) return performance.now() - from
    if (status !== 401) throw new Error(`sign-in answered ${status}`)
    await sleep(intervalMs)
  }
  return undefined
}

/**
 * Calls `task(i)` at `rate` per second for `seconds` (open loop: a slow answer
 * does not delay the next call), and resolves when every call has settled.
 */
export async function atRate<T> (rate: number, seconds: number, task: (i: number) => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  const total = Math.round(rate * seconds)
  const start = performance.now()
  const calls: Promise<T>[] = []
  for (let i = 0; i < total; i++) {
    const due = start + i * 1000 / rate
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    calls.push(task(i))
  }
  return await Promise.allSettled(calls)
}

/** Runs `task` `count` times with at most `concurrency` at once. */
export async function withConcurrency<T> (count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = []
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++
      out[i] = await task(i)
    }
  }))
  return out
}
