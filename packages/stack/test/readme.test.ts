import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repositoryRoot } from '../src/local-system.js'
import { configTable, serviceConfigs } from '../src/service-configs.js'

const root = repositoryRoot()
const readme = readFileSync(join(root, 'README.md'), 'utf8')

t.test("the README's variable table is the one the config schema makes", async (t) => {
  const between = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme)?.[1]
  t.equal(between, configTable(await serviceConfigs(root)), 'regenerate it with configTable() after changing a services/<name>/src/config.ts')
})

t.test('the quick start is two lines, and CI runs the second', async (t) => {
  const quickStart = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1]?.trim().split('\n')
  t.same(quickStart, ['npm ci && npm start', 'npm test'])
  const ci = readFileSync(join(root, '.ci', 'run'), 'utf8')
  t.match(ci, /^npm test\b/m, '.ci/run calls the README test line')
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
  t.ok(scripts.start !== undefined && scripts.test !== undefined)
})
