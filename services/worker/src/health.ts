/**
 * Probes for the container platform: /healthz says the poll loop makes
 * progress (a liveness failure makes the platform restart the container),
 * /readyz that it is polling the queue (its last successful receive is
 * recent). node:http is enough for two routes.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'

export interface HealthOptions {
  host: string
  /** 0 picks a free port; the bound one is in the result. */
  port: number
  /** Why the worker is not ready, or undefined when it is. */
  notReady: () => string | undefined
  /** Why the worker is stuck (restart it), or undefined while it makes progress; live when omitted. */
  notLive?: () => string | undefined
  log?: Logger
}

export interface HealthServer {
  port: number
  close: () => Promise<void>
}

export async function startHealthServer (options: HealthOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    let status = 404
    let body: Record<string, unknown> = { status: 'not found' }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      status = 405
      body = { status: 'method not allowed' }
    } else if (path === '/healthz') {
      const reason = options.notLive?.()
      status = reason === undefined ? 200 : 503
      body = reason === undefined ? { status: 'ok' } : { status: 'stuck', reason }
    } else if (path === '/readyz') {
      const reason = options.notReady()
      status = reason === undefined ? 200 : 503
      body = reason === undefined ? { status: 'ready' } : { status: 'not ready', reason }
    }
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : text)
  })
  // Probes are short; do not let an idle keep-alive connection hold shutdown.
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  options.log?.info({ host: options.host, port }, 'health.listening')
  let closed: Promise<void> | undefined
  return {
    port,
    close: async () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => { resolve() })
        server.closeAllConnections()
      })
      await closed
    }
  }
}
