/**
 * Queue, poison queue and codes table clients. The queues and the table are
 * created if missing, once: at start if storage answers, else on first use,
 * so a storage outage at start does not keep the api down after it ends.
 */
import type { TokenCredential } from '@azure/core-auth'
import fp from 'fastify-plugin'
import { createQueues, createTableClient, type Queues } from '@codegate/shared/clients'
import { CodesTable } from '@codegate/shared/codes-table'
import { withTimeout } from '@codegate/shared/race'
import { storageEnsurer } from '../../compose.js'

declare module 'fastify' {
  interface FastifyInstance {
    queues: Queues
    codesTable: CodesTable
    /** Creates the queues and the table if they are missing; instant after the first success. */
    ensureStorage: () => Promise<void>
  }
}

export interface StoragePluginOptions {
  credential?: TokenCredential
}

export default fp<StoragePluginOptions>(async (fastify, opts) => {
  const { config } = fastify
  const queues = createQueues(config, opts.credential)
  const codesTable = new CodesTable(createTableClient(config, opts.credential))
  const ensureStorage = storageEnsurer(queues, codesTable, fastify.log)

  fastify.decorate('queues', queues)
  fastify.decorate('codesTable', codesTable)
  fastify.decorate('ensureStorage', ensureStorage)

  fastify.addHook('onReady', async () => {
    // Bounded, so a storage endpoint that accepts and never answers cannot hold
    // start past Fastify's plugin timeout (whose error names no one).
    const timeoutMs = config.storageTimeoutMs
    const endpoints = { queueEndpoint: queues.queue.url, tableEndpoint: codesTable.client.url }
    try {
      await withTimeout(ensureStorage(), timeoutMs, () => {
        throw new Error(`storage did not answer within ${timeoutMs} ms (STORAGE_TIMEOUT_MS): queue ${endpoints.queueEndpoint}, table ${endpoints.tableEndpoint}`)
      })
    } catch (err) {
      fastify.log.warn({ err, event: 'storage.unavailable', ...endpoints }, 'storage unreachable at start; queues and table will be created on first use')
    }
  })
  // The Azure SDK clients hold no connections of their own beyond Node's shared
  // agent, and have no close(); nothing to release here.
}, { name: 'storage', fastify: '5.x', dependencies: ['config'] })
