import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { classify, diff, startCountingProxy, tableOf, transactions } from '../src/counting-proxy.js'

t.test('requests are named by the storage operation they are', async (t) => {
  const q = (method: string, url: string): string => classify('queue', method, url)
  const tb = (method: string, url: string): string => classify('table', method, url)
  t.equal(q('PUT', '/devstoreaccount1/code-requests'), 'queue.create')
  t.equal(q('POST', '/devstoreaccount1/code-requests/messages?messagettl=-1'), 'queue.send')
  t.equal(q('GET', '/devstoreaccount1/code-requests/messages?numofmessages=32&visibilitytimeout=30'), 'queue.receive')
  t.equal(q('GET', '/devstoreaccount1/code-requests/messages?peekonly=true'), 'queue.peek')
  t.equal(q('PUT', '/devstoreaccount1/code-requests/messages/abc?popreceipt=x&visibilitytimeout=600'), 'queue.update')
  t.equal(q('DELETE', '/devstoreaccount1/code-requests/messages/abc?popreceipt=x'), 'queue.delete-message')
  t.equal(q('GET', '/devstoreaccount1/code-requests?comp=metadata'), 'queue.properties.get')
  t.equal(tb('POST', '/devstoreaccount1/Tables'), 'table.create-table')
  t.equal(tb('POST', '/devstoreaccount1/codes'), 'table.insert')
  t.equal(tb('GET', "/devstoreaccount1/codes(PartitionKey='ab',RowKey='ojE-161-pTv')"), 'table.get')
  t.equal(tb('GET', '/devstoreaccount1/codes(PartitionKey=%27ab%27,RowKey=%27ojE-161-pTv%27)'), 'table.get')
  t.equal(tb('GET', '/devstoreaccount1/codes()?$filter=x'), 'table.query')
  t.equal(tb('DELETE', "/devstoreaccount1/codes(PartitionKey='ab',RowKey='ojE-161-pTv')"), 'table.delete')
  t.equal(tb('PATCH', "/devstoreaccount1/codes(PartitionKey='ab',RowKey='ojE-161-pTv')"), 'table.merge')
  t.equal(tableOf("/devstoreaccount1/signinlimits(PartitionKey='ab',RowKey='c0ffee')"), 'signinlimits', 'the table a request is about')
  t.equal(tableOf('/devstoreaccount1/codes'), 'codes')
  t.equal(tableOf('/devstoreaccount1/Tables'), undefined, 'service calls are about no table')
  t.equal(tableOf('/devstoreaccount1/$batch'), undefined)
})

t.test('the proxy forwards unchanged and counts each request, empty receives apart', async (t) => {
  const upstream = createServer((req, res) => {
    const receive = req.method === 'GET' && (req.url ?? '').includes('/messages')
    res.writeHead(req.method === 'DELETE' ? 404 : 200, { 'content-type': 'application/xml' })
    res.end(receive && (req.url ?? '').includes('numofmessages=1') ? '<QueueMessagesList><QueueMessage>x</QueueMessage></QueueMessagesList>' : '<QueueMessagesList></QueueMessagesList>')
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const port = (upstream.address() as AddressInfo).port
  const proxy = await startCountingProxy({ queuePort: port, tablePort: port })
  t.teardown(async () => {
    await proxy.close()
    upstream.closeAllConnections()
    await new Promise<void>((resolve) => { upstream.close(() => { resolve() }) })
  })
  const base = `http://127.0.0.1:${proxy.queuePort}/devstoreaccount1/q`
  const before = proxy.snapshot()
  const full = await fetch(`${base}/messages?numofmessages=1`)
  t.match(await full.text(), /<QueueMessage>/, 'the answer passes through')
  await (await fetch(`${base}/messages?numofmessages=32`)).text()
  await (await fetch(`${base}/messages/id?popreceipt=p`, { method: 'DELETE' })).text()
  const counts = diff(proxy.snapshot(), before)
  t.same(counts, {
    'queue.receive': 2,
    'queue.receive:non-empty': 1,
    'queue.receive:empty': 1,
    'queue.delete-message': 1,
    'queue.delete-message:404': 1
  })
  t.equal(transactions(counts), 3, 'breakdown keys are not added to the total')
})
