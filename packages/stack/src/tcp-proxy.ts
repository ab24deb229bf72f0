/**
 * A TCP proxy in front of a storage endpoint that can be made to hang: it
 * then accepts connections and reads what is sent, but passes nothing on and
 * never answers, which is what a stuck load balancer or a half-dead storage
 * node looks like to a client (a closed port, in contrast, fails at once).
 * Switching back to forwarding heals new requests; a request sent while it
 * hung stays unanswered, as it would in real life.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  /** Requests seen (chunks that begin with an HTTP method), forwarded or not. */
  readonly requests: number
  /** Requests seen with this method (e.g. POST: table inserts), forwarded or not. */
  requestsOf: (method: string) => number
  hang: () => void
  forward: () => void
  close: () => Promise<void>
}

const REQUEST_LINE = /^(GET|PUT|POST|DELETE|MERGE|PATCH|HEAD|OPTIONS) /

export async function startTcpProxy (target: { port: number, host?: string }, options: { hanging?: boolean } = {}): Promise<TcpProxy> {
  let hanging = options.hanging === true
  let requests = 0
  const byMethod = new Map<string, number>()
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    sockets.add(client)
    let upstream: Socket | undefined
    const end = (): void => { client.destroy(); upstream?.destroy() }
    client.on('data', (chunk) => {
      const method = REQUEST_LINE.exec(chunk.toString('latin1', 0, 8))?.[1]
      if (method !== undefined) {
        requests++
        byMethod.set(method, (byMethod.get(method) ?? 0) + 1)
      }
      // A connection that hung once stays hung: its request is lost.
      if (hanging || client.destroyed) {
        client.pause()
        return
      }
      if (upstream === undefined) {
        upstream = connect(target.port, target.host ?? '127.0.0.1')
        sockets.add(upstream)
        upstream.on('data', (data) => { if (!client.destroyed) client.write(data) })
        upstream.on('close', end).on('error', end)
      }
      upstream.write(chunk)
    })
    client.on('close', end).on('error', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    get requests () { return requests },
    requestsOf: (method) => byMethod.get(method) ?? 0,
    hang: () => { hanging = true },
    forward: () => { hanging = false },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}
