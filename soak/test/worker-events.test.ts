import t from 'tap'
import { WorkerEventWatch } from '../src/worker-events.js'

const activated = { name: 'activated', at: 13, messageId: 'm1', dequeueCount: 2, inserted: false, lagMs: 5000, lost: false }
const poisoned = { name: 'poisoned', at: 14, messageId: 'g1', dequeueCount: 1, cause: 'unreadable', reason: 'unreadable message: empty message' }

t.test('the workers\' typed events are kept per message and process; receives only counted', async (t) => {
  const watch = new WorkerEventWatch()
  watch.message('worker-2', { type: 'worker.events', lost: 0, events: [{ name: 'started', at: 1 }, { name: 'received', at: 2, queue: 'q', count: 1 }, activated] })
  watch.message('worker', { type: 'worker.events', lost: 3, events: [poisoned] })
  const s = watch.summary()
  t.same(s.events, [{ ...activated, process: 'worker-2' }, { ...poisoned, process: 'worker' }])
  t.same(s.receives, { 'worker-2': 1 })
  t.equal(s.lost, 3, 'events a worker could not send are counted, not silently missing')
  t.equal(s.rejectedCount, 0)
})

t.test('a malformed message on a channel is refused with a reason and counted, and nothing of it is kept', async (t) => {
  const watch = new WorkerEventWatch()
  for (const bad of [null, 'code.activated', { type: 'worker.events', lost: 0, events: [{ ...activated, dequeueCount: '2' }] }, { type: 'other' }]) {
    t.doesNotThrow(() => { watch.message('worker', bad) })
  }
  const s = watch.summary()
  t.equal(s.rejectedCount, 4)
  t.match(s.rejected, [{ process: 'worker', reason: 'not an object' }, { reason: String }, { reason: /no message id or dequeue count/ }, { reason: /type is not worker\.events/ }])
  t.same(s.events, [])
})

t.test('nextEvent resolves on a matching worker event, or false after the timeout', async (t) => {
  const watch = new WorkerEventWatch()
  const busy = watch.nextEvent((e) => e.process === 'worker-2' && e.name === 'activated', 5000)
  watch.message('worker', { type: 'worker.events', lost: 0, events: [activated] })
  watch.message('worker-2', { type: 'worker.events', lost: 0, events: [activated] })
  t.equal(await busy, true)
  t.equal(await watch.nextEvent(() => true, 10), false)
})
