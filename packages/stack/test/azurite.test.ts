import t from 'tap'
import { TableClient } from '@azure/data-tables'
import { QueueServiceClient } from '@azure/storage-queue'
import { startAzurite } from '../src/azurite.js'

t.test('a restart keeps queue and table data written just before it', async (t) => {
  const azurite = await startAzurite()
  t.teardown(() => azurite.stop())
  const table = TableClient.fromConnectionString(azurite.connectionString, 'kept', { allowInsecureConnection: true })
  await table.createTable()
  await table.createEntity({ partitionKey: 'p', rowKey: 'r', n: 1 })
  const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient('kept')
  await queue.create()
  await queue.sendMessage('hello')

  // Azurite's table service saves to disk every few seconds and on a clean
  // shutdown; a restart (the soak's storage outage) must not lose the last writes.
  await azurite.restart()

  t.equal((await table.getEntity<{ n: number }>('p', 'r')).n, 1)
  const peeked = await queue.peekMessages()
  t.equal(peeked.peekedMessageItems[0]?.messageText, 'hello')
})
