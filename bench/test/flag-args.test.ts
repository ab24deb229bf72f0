import { parseArgs } from 'node:util'
import t from 'tap'
import { glueDashValues } from '../src/flag-args.js'

t.test('a flags option takes a value that starts with a dash, as the docs write it', async (t) => {
  const argv = ['--only', 'getcode', '--compare-flags', '--max-old-space-size=96 --max-semi-space-size=16', '--quick']
  const options = { only: { type: 'string' }, 'compare-flags': { type: 'string' }, quick: { type: 'boolean' } } as const
  t.throws(() => parseArgs({ args: argv, options }), /ambiguous/, 'parseArgs alone refuses it')
  const { values } = parseArgs({ args: glueDashValues(argv, ['--compare-flags', '--node-flags']), options })
  t.same(values, { only: 'getcode', 'compare-flags': '--max-old-space-size=96 --max-semi-space-size=16', quick: true })
  t.same(glueDashValues(['--node-flags=--x', '--only', '-'], ['--node-flags']), ['--node-flags=--x', '--only', '-'], 'already glued, or not a flags option: unchanged')
})
