/**
 * Child: the framework ceiling. A Fastify instance with defaults and no
 * logger, one route answering a constant of getcode's shape: what one
 * process can answer on this machine when the handler does nothing.
 */
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import { serve } from '../child.js'

const ANSWER = { code: 'ojE-161-pTv', timestamp: '2020-04-15 16:54:48.816000', expiresAt: '2020-04-15T17:04:48.816Z' }

serve<never, never, { close: () => Promise<void> }>(
  async () => {
    const app = Fastify({ logger: false })
    app.get('/api/v1/getcode', async () => ANSWER)
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    return { state: { close: async () => { await app.close() } }, info: { url: `http://127.0.0.1:${port}/api/v1/getcode` } }
  },
  async () => { throw new Error('the constant server takes no requests') },
  async (state) => { await state.close() }
)
