import { getEventListeners } from 'node:events'
import t from 'tap'
import { untilAborted, withTimeout } from '../src/race.js'

const never = new Promise<never>(() => {})

t.test('withTimeout: the promise\'s value when it settles first', async (t) => {
  t.equal(await withTimeout(Promise.resolve('done'), 60_000, () => 'late'), 'done')
  await t.rejects(withTimeout(Promise.reject(new Error('boom')), 60_000, () => 'late'), { message: 'boom' })
})

t.test('withTimeout: what onTimeout returns, or throws, when the time runs out first', async (t) => {
  t.equal(await withTimeout(never, 0, () => false), false)
  await t.rejects(withTimeout(never, 0, () => { throw new RangeError('no answer') }), RangeError)
})

t.test('withTimeout: a rejection after the timeout is nobody\'s to handle', async (t) => {
  let reject: (err: Error) => void = () => {}
  const late = new Promise<never>((_resolve, r) => { reject = r })
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => { unhandled.push(err) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  t.equal(await withTimeout(late, 0, () => 'timed out'), 'timed out')
  reject(new Error('too late'))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [])
})

t.test('untilAborted: the promise\'s outcome while the signal holds', async (t) => {
  const controller = new AbortController()
  t.equal(await untilAborted(Promise.resolve(7), controller.signal, () => new Error('aborted')), 7)
  await t.rejects(untilAborted(Promise.reject(new Error('boom')), controller.signal, () => new Error('aborted')), { message: 'boom' })
})

t.test('untilAborted: onAbort\'s error as soon as the signal aborts, or at once when it already has', async (t) => {
  const controller = new AbortController()
  const pending = untilAborted(never, controller.signal, () => new Error('deadline'))
  controller.abort()
  await t.rejects(pending, { message: 'deadline' })
  await t.rejects(untilAborted(Promise.resolve(1), AbortSignal.abort(), () => new Error('already')), { message: 'already' }, 'an aborted signal wins over a settled promise')
})

t.test('untilAborted: leaves no listener on the signal', async (t) => {
  const { signal } = new AbortController()
  for (let i = 0; i < 3; i++) await untilAborted(Promise.resolve(i), signal, () => new Error('x'))
  await t.rejects(untilAborted(Promise.reject(new Error('boom')), signal, () => new Error('x')))
  t.equal(getEventListeners(signal, 'abort').length, 0)
})
