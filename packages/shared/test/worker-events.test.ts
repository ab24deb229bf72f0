/** The wire format of the worker's typed events: what may cross, and what a parent refuses. */
import t from 'tap'
import { decodeWorkerEvents, errorRecord } from '../src/worker-events.js'

const CODE = 'xKq-417-bZt'

t.test('a failure\'s error crosses as name, message and code, with any code scrubbed and no stack', async (t) => {
  const err = Object.assign(new Error(`insert of ${CODE} refused ${'x'.repeat(2000)}`), { code: 'TableBeingDeleted' })
  const record = errorRecord(err)
  t.match(record, { name: 'Error', code: 'TableBeingDeleted' })
  t.notMatch(JSON.stringify(record), CODE)
  t.notMatch(JSON.stringify(record), 'at ')
  t.ok(record.message.length <= 501, 'bounded')
})

t.test('the decoder refuses what is not an event message, with a reason, and never throws', async (t) => {
  const good = { name: 'activated', at: 1, messageId: 'm', dequeueCount: 1, inserted: true, lagMs: 3, lost: false }
  t.ok(decodeWorkerEvents({ type: 'worker.events', lost: 0, events: [good] }).ok)
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /not an object/],
    [[good], /not an object/],
    [{ type: 'worker.event', lost: 0, events: [] }, /type is not/],
    [{ type: 'worker.events', lost: -1, events: [] }, /lost/],
    [{ type: 'worker.events', lost: 0, events: {} }, /not a list/],
    [{ type: 'worker.events', lost: 0, events: [{ ...good, name: '__proto__' }] }, /unknown event name/],
    [{ type: 'worker.events', lost: 0, events: [{ ...good, at: 'now' }] }, /at is not a time/],
    [{ type: 'worker.events', lost: 0, events: [{ ...good, inserted: 'yes' }] }, /inserted/],
    [{ type: 'worker.events', lost: 0, events: [{ name: 'expired', at: 1, messageId: 'm', dequeueCount: 1, result: 'stolen', lateMs: 0, lost: false }] }, /result/],
    [{ type: 'worker.events', lost: 0, events: [{ name: 'failed', at: 1, messageId: 'm', dequeueCount: 1, attempt: 1, error: 'boom' }] }, /error/],
    [{ type: 'worker.events', lost: 0, events: [good, null] }, /not an object/]
  ]
  for (const [message, reason] of bad) {
    const decoded = decodeWorkerEvents(message)
    t.match(decoded, { ok: false, reason }, JSON.stringify(message) ?? 'undefined')
  }
})
