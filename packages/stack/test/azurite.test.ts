import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { TableClient } from '@azure/data-tables'
import { QueueServiceClient } from '@azure/storage-queue'
import { startAzurite } from '../src/azurite.js'
import { repositoryRoot } from '../src/local-system.js'
import { isAlive } from '../src/managed-process.js'

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

/** Gone, or a zombie nobody has reaped yet (it holds no port any more). */
function gone (pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true
  } catch {
    return !isAlive(pid)
  }
}

t.test('Azurite does not outlive a process killed while holding it (tap ends a timed-out file with SIGKILL)', async (t) => {
  // A test-like process: starts Azurite through the package, says its pids, waits.
  const holder = spawn(process.execPath, ['--input-type=module', '-e', `
    const { startAzurite } = await import('@codegate/stack/azurite')
    const azurite = await startAzurite()
    console.log(JSON.stringify(azurite.pids))
    setInterval(() => {}, 60_000)
  `], { cwd: repositoryRoot(), stdio: ['ignore', 'pipe', 'inherit'] })
  let pids: number[] = []
  t.teardown(() => { for (const pid of [holder.pid ?? -1, ...pids]) if (!gone(pid)) process.kill(pid, 'SIGKILL') })
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: holder.stdout }).once('line', resolve)
    holder.once('exit', (code) => { reject(new Error(`the holder exited with ${String(code)} before Azurite started`)) })
  })
  pids = JSON.parse(line) as number[]
  t.equal(pids.length, 2, 'queue and table services run')

  holder.kill('SIGKILL')
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && !pids.every(gone)) await sleep(100)
  t.same(pids.filter((pid) => !gone(pid)), [], 'both Azurite processes are gone after their holder was killed')
})

t.test('a restart waits for its port while another process holds it for a moment', async (t) => {
  let blocker: Server | undefined
  let refusals = 0
  const azurite = await startAzurite({
    // Frees the port on Azurite's first "address in use": from then on only a retry can succeed.
    onLine: (_service, line) => { if (/EADDRINUSE/.test(line) && blocker !== undefined) { refusals++; blocker.close(); blocker = undefined } }
  })
  t.teardown(() => azurite.stop())
  await azurite.pause()
  const held = createServer()
  await new Promise<void>((resolve) => { held.listen(azurite.queuePort, '127.0.0.1', resolve) })
  blocker = held
  t.teardown(() => { held.close() })

  await azurite.start()
  t.equal(refusals, 1, 'the first try found the port taken')
  t.equal(azurite.pids.length, 2, 'and a later one started both services on their old ports')
  const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient('back')
  await queue.create()
  t.ok(await queue.exists())
})
