/**
 * infra/deploy.sh for the accounts a first real user brings, against the
 * stand-in az: a free trial without ACR Tasks, a service principal without
 * Graph rights, refused parameters (an existing group: deploy-group.test.ts).
 */
import t from 'tap'
import { DEPLOY_ENV, runScript } from './fixtures/run-script.js'

const KEY = 'function-key-7f3a9c'

t.test('a free-trial subscription refusing az acr build is told to use BUILD_WITH=docker', async (t) => {
  const run = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY }, { acrTasks: false })
  t.teardown(async () => { await run.az.close() })
  t.equal(run.code, 1)
  t.match(run.stderr, /TasksOperationsNotAllowed/, 'Azure\'s own error is shown')
  t.match(run.stderr, /deploy: this subscription may not run ACR Tasks .*BUILD_WITH=docker \.\/infra\/deploy\.sh/, 'and what to do instead')
  t.equal(run.az.find('acr', 'build').length, 1, 'stops at the first refused build')
  t.same(run.az.find('rest').filter((c) => c.args.some((a) => a.includes('/containerApps/'))), [], 'no app is deployed without images')
})

t.test('a service principal without Graph rights deploys: object id from its token, type ServicePrincipal', async (t) => {
  const oid = '22222222-3333-4444-5555-666666666666'
  const run = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY },
    { login: { type: 'servicePrincipal', name: 'http://ci-deployer', oid } })
  t.teardown(async () => { await run.az.close() })
  t.equal(run.code, 0, 'deploys', { stderr: run.stderr })
  t.same(run.az.find('ad'), [], 'no Microsoft Graph call (it would fail)')
  t.equal(run.az.find('account', 'get-access-token').length, 1)
  const officer = run.az.find('role', 'assignment', 'create').find((c) => c.args.includes('Key Vault Secrets Officer'))
  t.match(officer?.args.join(' '), `--assignee-object-id ${oid} --assignee-principal-type ServicePrincipal`)
  t.match(run.stderr, `deploying as ServicePrincipal ${oid}`)
})

t.test('parameters are checked before any change', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ THIRD_PARTY_API_ENDPOINT: 'https://fn.example.net/api/RandomNumber?code=abc123' }, /THIRD_PARTY_API_ENDPOINT carries a key \(code=\.\.\.\)/],
    [{ THIRD_PARTY_API_ENDPOINT: 'https://fn.example.net/api/RandomNumber?x=1&Code=abc' }, /carries a key/],
    [{ REVISION_SUFFIX: 'Bad_Suffix' }, /REVISION_SUFFIX must be/],
    [{ WORKER_CPU: 'lots' }, /WORKER_CPU must be a number of vCPUs/],
    [{ LOG_DAILY_CAP_GB: 'x' }, /LOG_DAILY_CAP_GB must be/],
    // Without its callers' issuer and audience the api would refuse to start: a crash-looping revision.
    [{ AUTH_ISSUER: '' }, /AUTH_ISSUER and AUTH_AUDIENCE are required.*app-registration\.sh/],
    [{ AUTH_AUDIENCE: '' }, /AUTH_ISSUER and AUTH_AUDIENCE are required/],
    [{ AUTH_ISSUER: 'http://login.example.net/t/v2.0' }, /AUTH_ISSUER must be an https URL/],
    [{ AUTH_MODE: 'open' }, /AUTH_MODE must be entra or none/]
  ]
  for (const [env, message] of cases) {
    const run = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, ...env })
    await run.az.close()
    t.equal(run.code, 1, JSON.stringify(env))
    t.match(run.stderr, message)
    t.notMatch(run.stderr, /abc123/, 'the key in a refused URL is not echoed')
    t.same(run.az.calls, [], 'nothing asked of Azure')
  }
})
