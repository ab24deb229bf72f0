/**
 * infra/deploy-functions.sh takes the inputs and makes the shared resources
 * as infra/deploy.sh does (both through infra/lib.sh), against the stand-in
 * az. Only its steps run: the whole script builds the package with npm.
 */
import t from 'tap'
import { DEPLOY_ENV, runScript } from './fixtures/run-script.js'

const KEY = 'function-key-7f3a9c'

t.test('a third-party URL that carries a key is refused before anything is asked of Azure', async (t) => {
  for (const endpoint of ['https://fn.example.net/api/RandomNumber?code=abc123', 'https://fn.example.net/api/RandomNumber?x=1&Code=abc123']) {
    const run = await runScript('deploy-functions.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, THIRD_PARTY_API_ENDPOINT: endpoint })
    await run.az.close()
    t.equal(run.code, 1, endpoint)
    t.match(run.stderr, /deploy-functions: THIRD_PARTY_API_ENDPOINT carries a key \(code=\.\.\.\)/)
    t.notMatch(run.stderr, /abc123/, 'the key in a refused URL is not echoed')
    t.same(run.az.calls, [], 'nothing asked of Azure')
  }
})

t.test('an existing group in another region is reused as it is: its region, its tags', async (t) => {
  const tags = { owner: 'team-a', costcenter: '42' }
  const run = await runScript('test/fixtures/run-steps.sh', { ...DEPLOY_ENV, RESOURCE_GROUP: 'shared-rg' },
    { groups: [{ name: 'shared-rg', location: 'swedencentral', tags }] }, ['deploy-functions.sh', 'read_parameters', 'create_group'])
  t.teardown(async () => { await run.az.close() })
  t.equal(run.code, 0, { stderr: run.stderr })
  t.same(run.az.find('group', 'create'), [], 'no az group create (it fails in another region and replaces tags)')
  t.same(run.az.state.groups['shared-rg']?.tags, tags, 'tags untouched')
  t.match(run.stderr, /resource group shared-rg exists \(swedencentral\); its tags are left alone; resources go to swedencentral/)
})
