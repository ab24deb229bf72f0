/** The two calls a client of codegate makes, timed, never throwing: a failure is a record. */
import type { ApiCall } from './records.js'

/** A client gives up after this; the api's own limits (third party 3 s, storage 5 s × 2) are below it. */
const TIMEOUT_MS = 20_000

export interface IssuedAnswer {
  code: string
  timestamp: string
  expiresAt: string
}

function failureOf (err: unknown): string {
  const e = err as { name?: string, cause?: { code?: string } }
  if (e.name === 'TimeoutError') return 'client timeout'
  return e.cause?.code ?? e.name ?? 'error'
}

async function call (url: string, init: RequestInit): Promise<{ call: ApiCall, body: unknown }> {
  const sentAt = Date.now()
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) })
    const text = await response.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    const error = (body as { error?: unknown } | undefined)?.error
    return {
      call: { sentAt, answeredAt: Date.now(), status: response.status, ...(typeof error === 'string' && error !== '' ? { error } : {}) },
      body
    }
  } catch (err) {
    return { call: { sentAt, answeredAt: Date.now(), status: 0, failure: failureOf(err) }, body: undefined }
  }
}

/** An Authorization header for `token`; none without one (AUTH_MODE=none). */
const bearer = (token: string | undefined): Record<string, string> => token !== undefined ? { authorization: `Bearer ${token}` } : {}

export async function getCode (getCodeUrl: string, subject: string, token?: string): Promise<{ call: ApiCall, issued?: IssuedAnswer }> {
  const { call: c, body } = await call(`${getCodeUrl}?subject=${encodeURIComponent(subject)}`, { method: 'GET', headers: bearer(token) })
  if (c.status !== 200) return { call: c }
  const b = body as Partial<IssuedAnswer> | undefined
  if (typeof b?.code !== 'string' || typeof b.timestamp !== 'string' || typeof b.expiresAt !== 'string') {
    return { call: { ...c, error: 'malformed 200 answer' } }
  }
  return { call: c, issued: { code: b.code, timestamp: b.timestamp, expiresAt: b.expiresAt } }
}

/** `from`: the client address, sent as X-Forwarded-For (the soak's apis trust it from loopback). */
export async function signIn (apiUrl: string, code: string, subject: string, from: string, token?: string): Promise<ApiCall> {
  const { call: c } = await call(`${apiUrl}/api/v1/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': from, ...bearer(token) },
    body: JSON.stringify({ code, subject })
  })
  return c
}
