import t from 'tap'
import { createLogPrinter } from '../src/log-printer.js'

function capture (): { out: { write: (s: string) => boolean }, text: () => string } {
  let text = ''
  return { out: { write: (s) => { text += s; return true } }, text: () => text }
}

t.test('a pino JSON line is printed readable, behind its process prefix', async (t) => {
  const { out, text } = capture()
  const printer = createLogPrinter({ out, colors: false })
  printer.line('worker', JSON.stringify({ level: 30, time: Date.now(), pid: 1, hostname: 'h', name: 'worker', event: 'code.activated', codeId: '3f9c20e1', msg: 'code activated' }))
  const line = text()
  t.match(line, /^\[worker\]\s+\[/)
  t.match(line, /INFO/)
  t.match(line, /code\.activated code activated/, 'the event leads the message')
  t.match(line, /"codeId":"3f9c20e1"/)
  t.notMatch(line, /hostname/)
  t.equal(line.split('\n').length, 2, 'one line')
})

t.test('lines that are not JSON pass through, each line prefixed', async (t) => {
  const { out, text } = capture()
  const printer = createLogPrinter({ out, colors: false })
  printer.line('api', 'TypeError: boom')
  printer.line('number-api', '    at main.js:1:1')
  t.equal(text(), '[api]   TypeError: boom\n[number-api]     at main.js:1:1\n')
})

t.test('an error record keeps its stack, every line prefixed', async (t) => {
  const { out, text } = capture()
  const printer = createLogPrinter({ out, colors: false })
  printer.line('api', JSON.stringify({ level: 50, time: Date.now(), msg: 'failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x (a.js:1:1)' } }))
  const lines = text().trimEnd().split('\n')
  t.ok(lines.length > 1, 'several lines')
  t.ok(lines.every((l) => l.startsWith('[api] ')), 'all prefixed')
  t.match(text(), /ERROR/)
})

t.test('with colors the prefix is colored', async (t) => {
  const { out, text } = capture()
  createLogPrinter({ out, colors: true }).say('ready')
  t.match(text(), /^\u001b\[\d+m\[stack\]\u001b\[39m ready\n$/)
})

t.test('names given in advance line the text up from the first line', async (t) => {
  const { out, text } = capture()
  const printer = createLogPrinter({ out, colors: false, names: ['number-api'] })
  printer.say('starting')
  printer.line('number-api', 'up')
  t.equal(text(), '[stack]      starting\n[number-api] up\n')
})
