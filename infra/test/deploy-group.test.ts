/** infra/deploy.sh into a resource group that already exists elsewhere, against the stand-in az. */
import t from 'tap'
import { DEPLOY_ENV, runScript } from './fixtures/run-script.js'

const KEY = 'function-key-7f3a9c'

t.test('an existing group in another region is reused as it is: its region, its tags', async (t) => {
  const tags = { owner: 'team-a', costcenter: '42' }
  const run = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, RESOURCE_GROUP: 'shared-rg' },
    { groups: [{ name: 'shared-rg', location: 'swedencentral', tags }] })
  t.teardown(async () => { await run.az.close() })
  t.equal(run.code, 0, 'deploys', { stderr: run.stderr })
  t.same(run.az.find('group', 'create'), [], 'no az group create (it fails in another region and replaces tags)')
  t.same(run.az.state.groups['shared-rg']?.tags, tags, 'tags untouched')
  const locations = run.az.calls.map((c) => c.args[c.args.indexOf('--location') + 1]).filter((l, i) => run.az.calls[i]?.args.includes('--location'))
  t.ok(locations.length > 3 && locations.every((l) => l === 'swedencentral'), 'every resource goes to the group\'s region')
  t.match(run.stderr, /resource group shared-rg exists \(swedencentral\); its tags are left alone/)
})
