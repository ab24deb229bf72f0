/**
 * "Is it up yet?" checks for child processes that do not tell us: poll a port
 * or a health URL until it answers, the caller gives up, or time runs out.
 */
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { CodegateError } from '@codegate/shared/errors'

/** What "ready" means for a process. */
export type Readiness =
  /** A GET answers 2xx (https: trusting `ca`, a PEM, when given). */
  | { url: string, ca?: string | Buffer }
  /** A TCP connection to the port succeeds. */
  | { port: number, host?: string }
  /** Anything else: resolves true once ready. */
  | { check: () => Promise<boolean>, description: string }

export interface WaitOptions {
  timeoutMs?: number
  /** Stops waiting (with the signal's reason) when aborted, e.g. because the process exited. */
  signal?: AbortSignal
}

export class NotReadyError extends CodegateError {
  constructor (what: string, timeoutMs: number, last: string | undefined) {
    super('NOT_READY', `${what} was not ready within ${timeoutMs} ms${last !== undefined ? ` (last try: ${last})` : ''}`)
  }
}

export function describeReadiness (ready: Readiness): string {
  if ('url' in ready) return `GET ${ready.url}`
  if ('port' in ready) return `port ${ready.host ?? '127.0.0.1'}:${ready.port}`
  return ready.description
}

export interface HttpAnswer {
  status: number
  /** The start of the body, for messages. */
  body: string
}

/** One GET without keep-alive; resolves to the answer, or to the error when nothing answered. */
export async function httpGet (url: string, options: { ca?: string | Buffer, timeoutMs?: number } = {}): Promise<HttpAnswer | Error> {
  const target = new URL(url)
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest
  return await new Promise((resolve) => {
    const req = request(target, {
      method: 'GET',
      timeout: options.timeoutMs ?? 2000,
      // No keep-alive: a poll must not hold a socket open in the process it polls.
      agent: false,
      ...(options.ca !== undefined ? { ca: options.ca } : {})
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { if (body.length < 500) body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: body.slice(0, 500) }) })
      res.on('error', (err) => { resolve(err) })
    })
    req.on('timeout', () => { req.destroy(new Error(`no answer within ${options.timeoutMs ?? 2000} ms`)) })
    req.on('error', (err) => { resolve(err) })
    req.end()
  })
}

export async function isPortOpen (port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ port, host })
    const done = (open: boolean): void => { socket.destroy(); resolve(open) }
    socket.setTimeout(2000, () => { done(false) })
    socket.once('connect', () => { done(true) })
    socket.once('error', () => { done(false) })
  })
}

/** true when ready, else what was seen. */
async function checkOnce (ready: Readiness): Promise<true | string> {
  if ('url' in ready) {
    const answer = await httpGet(ready.url, ready.ca !== undefined ? { ca: ready.ca } : {})
    if (answer instanceof Error) return answer.message
    return answer.status >= 200 && answer.status < 300 ? true : `answered ${answer.status} ${answer.body}`
  }
  if ('port' in ready) return await isPortOpen(ready.port, ready.host) ? true : 'nothing listens'
  return await ready.check() ? true : 'not yet'
}

/** Polls `ready` (100 ms, backing off to 500 ms) until it holds; throws NotReadyError after timeoutMs. */
export async function waitUntilReady (ready: Readiness, options: WaitOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const deadline = Date.now() + timeoutMs
  let interval = 100
  for (;;) {
    options.signal?.throwIfAborted()
    const result = await checkOnce(ready)
    if (result === true) return
    options.signal?.throwIfAborted()
    if (Date.now() >= deadline) throw new NotReadyError(describeReadiness(ready), timeoutMs, result)
    await sleep(interval, undefined, options.signal !== undefined ? { signal: options.signal } : {}).catch(() => {})
    interval = Math.min(interval * 1.5, 500)
  }
}
