import { createServer, type Server } from 'node:net'
import t from 'tap'
import { assertPortsFree, freePort, isPortFree, PortInUseError } from '../src/ports.js'

async function occupy (): Promise<{ server: Server, port: number }> {
  const server = createServer()
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const address = server.address()
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0 }
}

t.test('a port someone listens on is not free; a closed one is', async (t) => {
  const { server, port } = await occupy()
  t.equal(await isPortFree(port), false)
  await new Promise((resolve) => server.close(resolve))
  t.equal(await isPortFree(port), true)
  t.equal(await isPortFree(await freePort()), true)
})

t.test('assertPortsFree names the taken port, its service and the variable to change', async (t) => {
  const { server, port } = await occupy()
  t.teardown(() => { server.close() })
  const free = await freePort()
  const err = await assertPortsFree([
    { port: free, service: 'number-api', variable: 'NUMBER_API_PORT' },
    { port, service: 'api', variable: 'PORT' }
  ]).catch((e: unknown) => e)
  t.type(err, PortInUseError)
  t.match(err, { code: 'PORT_IN_USE', port, service: 'api', variable: 'PORT' })
  t.match((err as Error).message, new RegExp(`Port ${port} on 127\\.0\\.0\\.1, wanted by api, is already in use: .*set PORT to a free port`))
  await t.resolves(assertPortsFree([{ port: free, service: 'number-api' }]))
})

t.test('every taken port is named at once', async (t) => {
  const a = await occupy()
  const b = await occupy()
  t.teardown(() => { a.server.close(); b.server.close() })
  const err = await assertPortsFree([
    { port: a.port, service: 'api', variable: 'PORT' },
    { port: b.port, service: 'dev-vault', variable: 'DEV_VAULT_PORT' }
  ]).catch((e: unknown) => e)
  t.type(err, PortInUseError)
  t.equal((err as PortInUseError).conflicts.length, 2)
  t.match((err as Error).message, `${a.port} (api, PORT), ${b.port} (dev-vault, DEV_VAULT_PORT)`)
})
