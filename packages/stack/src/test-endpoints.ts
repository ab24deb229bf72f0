/**
 * Loopback endpoints for tests of what the services do when storage misbehaves
 * in ways a stopped Azurite cannot show: an answer that comes late (or only
 * once other requests have arrived), and an endpoint that accepts a connection
 * and never answers, where only the client's own timeout helps.
 */
import { createServer as createHttpServer, request as httpRequest, Agent, type Server } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'

export interface HoldingProxy {
  port: number
  /** Requests forwarded so far, as "METHOD path". */
  readonly requests: string[]
  close: () => Promise<void>
}

/**
 * An HTTP proxy to 127.0.0.1:`targetPort` that forwards every request at once
 * and passes each answer back only when `hold` for that request resolves: a
 * slow table (a delay), or a barrier that makes concurrent reads overlap.
 */
export async function startHoldingProxy (targetPort: number, hold: (request: { method: string, url: string }) => Promise<void> | void): Promise<HoldingProxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 })
  const requests: string[] = []
  const server = createHttpServer((req, res) => {
    const request = { method: req.method ?? 'GET', url: req.url ?? '/' }
    requests.push(`${request.method} ${request.url}`)
    const upstream = httpRequest({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      const chunks: Buffer[] = []
      answer.on('data', (chunk: Buffer) => { chunks.push(chunk) })
      answer.on('end', () => {
        void (async () => {
          await hold(request)
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          res.end(Buffer.concat(chunks))
        })()
      })
    })
    upstream.on('error', (err) => { res.destroy(err) })
    req.pipe(upstream)
  })
  const port = await listen(server)
  return {
    port,
    requests,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      agent.destroy()
    }
  }
}

export interface HungEndpoint {
  port: number
  /** Connections accepted so far. */
  readonly connections: number
  close: () => Promise<void>
}

/** A TCP endpoint that accepts connections, reads what is sent, and never answers. */
export async function startHungEndpoint (): Promise<HungEndpoint> {
  const sockets = new Set<Socket>()
  let connections = 0
  const server = createTcpServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => { sockets.delete(socket) })
    socket.resume()
  })
  const port = await listen(server)
  return {
    port,
    get connections () { return connections },
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

async function listen (server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  return (server.address() as AddressInfo).port
}
