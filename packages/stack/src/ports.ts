import { createServer } from 'node:net'
import { CodegateError } from '@codegate/shared/errors'

/** A port that was free a moment ago on 127.0.0.1 (for programs that cannot report the one they got). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

export interface PortClaim {
  port: number
  /** Who wants it, e.g. "api". */
  service: string
  /** The variable that moves it, e.g. PORT. */
  variable?: string
}

/** Fixed ports someone else holds: the local system cannot start there. */
export class PortInUseError extends CodegateError {
  /** The first taken port (all of them are in `conflicts`). */
  readonly port: number
  readonly service: string
  readonly variable: string | undefined
  readonly conflicts: PortClaim[]

  constructor (conflicts: [PortClaim, ...PortClaim[]], host: string) {
    const [first] = conflicts
    const fix = (c: PortClaim): string => c.variable !== undefined ? `set ${c.variable} to a free port` : 'choose another port'
    const example = first.variable !== undefined ? ` (e.g. ${first.variable}=${first.port + 100} npm start)` : ''
    super('PORT_IN_USE', conflicts.length === 1
      ? `Port ${first.port} on ${host}, wanted by ${first.service}, is already in use: stop what holds it, or ${fix(first)}${example}.`
      : `Ports already in use on ${host}: ${conflicts.map((c) => `${c.port} (${c.service}${c.variable !== undefined ? `, ${c.variable}` : ''})`).join(', ')}. Stop what holds them, or set those variables to free ports${example}.`)
    this.port = first.port
    this.service = first.service
    this.variable = first.variable
    this.conflicts = conflicts
  }
}

/** Whether nothing listens on host:port (checked by binding it for a moment). */
export async function isPortFree (port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(false)
      else reject(err)
    })
    server.listen({ port, host, exclusive: true }, () => { server.close(() => { resolve(true) }) })
  })
}

/** Throws PortInUseError naming every wanted port that is taken, before anything is started. */
export async function assertPortsFree (wanted: PortClaim[], host = '127.0.0.1'): Promise<void> {
  const taken: PortClaim[] = []
  for (const claim of wanted) {
    if (!await isPortFree(claim.port, host)) taken.push(claim)
  }
  const [first, ...rest] = taken
  if (first !== undefined) throw new PortInUseError([first, ...rest], host)
}
