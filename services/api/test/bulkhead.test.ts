import t from 'tap'
import { Bulkhead, OverloadedError } from '../src/bulkhead.js'

/** A task that ends when told to. */
function gate (): { task: () => Promise<string>, open: (value: string) => void, started: () => boolean } {
  let open: (value: string) => void = () => {}
  let started = false
  const done = new Promise<string>((resolve) => { open = resolve })
  return { task: async () => { started = true; return await done }, open: (v) => { open(v) }, started: () => started }
}

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

t.test('runs at most maxInFlight at once, lets maxWaiting wait and refuses the next at once', async (t) => {
  const bulkhead = new Bulkhead('calls', { maxInFlight: 2, maxWaiting: 1 })
  const gates = [gate(), gate(), gate()]
  const running = gates.map((g) => bulkhead.run(g.task))
  await tick()
  t.same(gates.map((g) => g.started()), [true, true, false], 'two run, the third waits')
  t.equal(bulkhead.inFlight, 2)
  t.equal(bulkhead.waiting, 1)

  const refused = bulkhead.run(async () => 'never')
  await t.rejects(refused, OverloadedError, 'the fourth is refused')
  await t.rejects(refused, { code: 'OVERLOADED', what: 'calls' })

  gates[0]!.open('a')
  t.equal(await running[0], 'a')
  await tick()
  t.ok(gates[2]!.started(), 'the waiter takes the freed slot')
  t.equal(bulkhead.inFlight, 2)
  t.equal(bulkhead.waiting, 0)

  gates[1]!.open('b')
  gates[2]!.open('c')
  t.same(await Promise.all(running), ['a', 'b', 'c'])
  t.equal(bulkhead.inFlight, 0, 'every slot is given back')
})

t.test('a task that fails gives its slot back', async (t) => {
  const bulkhead = new Bulkhead('calls', { maxInFlight: 1, maxWaiting: 0 })
  await t.rejects(bulkhead.run(async () => { throw new Error('boom') }), { message: 'boom' })
  t.equal(bulkhead.inFlight, 0)
  t.equal(await bulkhead.run(async () => 'next'), 'next')
})

t.test('waiters are served in arrival order', async (t) => {
  const bulkhead = new Bulkhead('calls', { maxInFlight: 1, maxWaiting: 3 })
  const first = gate()
  const order: number[] = []
  const all = [bulkhead.run(first.task), ...[1, 2, 3].map(async (n) => await bulkhead.run(async () => { order.push(n) }))]
  first.open('x')
  await Promise.all(all)
  t.same(order, [1, 2, 3])
})

t.test('a waiter whose turn does not come within maxWaitMs is refused, and leaves the line', async (t) => {
  let refusals = 0
  const bulkhead = new Bulkhead('calls', { maxInFlight: 1, maxWaiting: 2, retryAfterSeconds: 3, maxWaitMs: 20, onRefused: () => { refusals++ } })
  const first = gate()
  const running = bulkhead.run(first.task)
  const waiter = bulkhead.run(async () => 'never')
  await t.rejects(waiter, { code: 'OVERLOADED', retryAfterSeconds: 3 }, 'refused once the wait is over')
  t.equal(bulkhead.waiting, 0, 'no longer in line')
  t.equal(refusals, 1, 'the refusal after the wait is reported')
  first.open('done')
  t.equal(await running, 'done')
  t.equal(bulkhead.inFlight, 0, 'the slot was not handed to the refused waiter')
  t.equal(await bulkhead.run(async () => 'next'), 'next')
})

t.test('limits must be whole numbers', async (t) => {
  t.throws(() => new Bulkhead('calls', { maxInFlight: 0, maxWaiting: 0 }), RangeError)
  t.throws(() => new Bulkhead('calls', { maxInFlight: 1, maxWaiting: -1 }), RangeError)
  t.throws(() => new Bulkhead('calls', { maxInFlight: 1.5, maxWaiting: 0 }), RangeError)
})

t.test('full says whether run() would refuse now, and refuseWhenFull throws what run() would', async (t) => {
  let refusals = 0
  const bulkhead = new Bulkhead('things', { maxInFlight: 1, maxWaiting: 1, retryAfterSeconds: 3, onRefused: () => { refusals++ } })
  let finish: () => void = () => {}
  t.notOk(bulkhead.full, 'empty')
  const first = bulkhead.run(async () => { await new Promise<void>((resolve) => { finish = resolve }) })
  t.notOk(bulkhead.full, 'a slot taken, the line still open')
  t.doesNotThrow(() => { bulkhead.refuseWhenFull() })
  const second = bulkhead.run(async () => {})
  t.ok(bulkhead.full, 'the slot taken and the line full')
  t.throws(() => { bulkhead.refuseWhenFull() }, { code: 'OVERLOADED', what: 'things', retryAfterSeconds: 3 })
  await t.rejects(bulkhead.run(async () => {}), { code: 'OVERLOADED' }, 'run() refuses the same')
  t.equal(refusals, 2, 'each refusal at once is reported')
  finish()
  await Promise.all([first, second])
  t.notOk(bulkhead.full, 'empty again')
})
