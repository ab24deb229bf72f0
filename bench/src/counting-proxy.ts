/**
 * Counts storage transactions by standing between the services and Azurite:
 * an HTTP proxy per endpoint (queue, table) that forwards every request
 * unchanged and tallies it by operation. It counts what was sent, not what
 * the code was expected to send. A receive's answer is read to tell empty
 * receives (idle polling) from those that returned messages.
 */
import { createServer, request as httpRequest, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Counts = Record<string, number>

/** The table a table-service request is about (`codes`, `signinlimits`), or undefined for service-level calls. */
export function tableOf (url: string): string | undefined {
  const name = new URL(url, 'http://x').pathname.split('/').filter((p) => p !== '')[1]
  if (name === undefined || name === '$batch' || name.startsWith('Tables')) return undefined
  return decodeURIComponent(name).replace(/\(.*$/, '')
}

/** The operation a request to the queue or table service is, e.g. `queue.send`, `table.insert`. */
export function classify (service: 'queue' | 'table', method: string, url: string): string {
  const { pathname, searchParams } = new URL(url, 'http://x')
  // /<account>/<name>[/messages[/<id>]] for queues, /<account>/<table>[(keys)] for tables.
  const parts = pathname.split('/').filter((p) => p !== '').slice(1)
  if (service === 'queue') {
    if (parts.length === 0) return `queue.service.${method.toLowerCase()}`
    if (parts.length === 1) {
      if (method === 'PUT' && !searchParams.has('comp')) return 'queue.create'
      if (method === 'DELETE') return 'queue.delete'
      return `queue.properties.${method.toLowerCase()}`
    }
    if (parts.length === 2) {
      if (method === 'POST') return 'queue.send'
      if (method === 'GET') return searchParams.get('peekonly') === 'true' ? 'queue.peek' : 'queue.receive'
      if (method === 'DELETE') return 'queue.clear'
    }
    if (parts.length === 3) {
      if (method === 'PUT') return 'queue.update'
      if (method === 'DELETE') return 'queue.delete-message'
    }
    return `queue.other.${method.toLowerCase()}`
  }
  const name = parts[0] ?? ''
  if (name === 'Tables' || name.startsWith('Tables(')) return method === 'POST' ? 'table.create-table' : `table.tables.${method.toLowerCase()}`
  if (name === '$batch') return 'table.batch'
  const point = /\(PartitionKey=.*,RowKey=.*\)$/.test(decodeURIComponent(name))
  switch (method) {
    case 'POST': return 'table.insert'
    case 'GET': return point ? 'table.get' : 'table.query'
    case 'DELETE': return 'table.delete'
    case 'PUT': return 'table.replace'
    case 'MERGE':
    case 'PATCH': return 'table.merge'
  }
  return `table.other.${method.toLowerCase()}`
}

export interface CountingProxy {
  queuePort: number
  tablePort: number
  /** A copy of the counts so far (operation → requests; `…:status` keys for non-2xx answers). */
  snapshot: () => Counts
  close: () => Promise<void>
}

/** Difference of two snapshots. */
export function diff (after: Counts, before: Counts): Counts {
  const out: Counts = {}
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0)
    if (d !== 0) out[key] = d
  }
  return out
}

/** Sum of the operations (keys without a `:` suffix). */
export function transactions (counts: Counts): number {
  return Object.entries(counts).filter(([key]) => !key.includes(':')).reduce((sum, [, v]) => sum + v, 0)
}

async function listen (server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  return (server.address() as AddressInfo).port
}

export async function startCountingProxy (target: { queuePort: number, tablePort: number }, ports: { queue: number, table: number } = { queue: 0, table: 0 }): Promise<CountingProxy> {
  const counts: Counts = {}
  const agent = new Agent({ keepAlive: true, maxSockets: 256 })
  const add = (key: string): void => { counts[key] = (counts[key] ?? 0) + 1 }

  const make = (service: 'queue' | 'table', targetPort: number): Server => createServer((req: IncomingMessage, res: ServerResponse) => {
    const op = classify(service, req.method ?? 'GET', req.url ?? '/')
    add(op)
    // A breakdown by table (`table.get:@codes`), left out of the totals like every `:` key.
    const table = service === 'table' ? tableOf(req.url ?? '/') : undefined
    if (table !== undefined) add(`${op}:@${table}`)
    const upstream = httpRequest({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      const status = answer.statusCode ?? 0
      if (status >= 300) add(`${op}:${status}`)
      res.writeHead(status, answer.headers)
      if (op !== 'queue.receive') {
        answer.pipe(res)
        return
      }
      const chunks: Buffer[] = []
      answer.on('data', (chunk: Buffer) => { chunks.push(chunk) })
      answer.on('end', () => {
        const body = Buffer.concat(chunks)
        if (status < 300) add(body.includes('<QueueMessage>') ? 'queue.receive:non-empty' : 'queue.receive:empty')
        res.end(body)
      })
    })
    upstream.on('error', (err) => { add(`${op}:proxy-error`); res.destroy(err) })
    req.pipe(upstream)
  })

  const queueServer = make('queue', target.queuePort)
  const tableServer = make('table', target.tablePort)
  const queuePort = await listen(queueServer, ports.queue)
  const tablePort = await listen(tableServer, ports.table)
  return {
    queuePort,
    tablePort,
    snapshot: () => ({ ...counts }),
    close: async () => {
      for (const server of [queueServer, tableServer]) {
        server.closeAllConnections()
        await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      }
      agent.destroy()
    }
  }
}
