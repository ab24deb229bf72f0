/**
 * infra/deploy.sh's waits against the stand-in az: a role assignment that
 * takes minutes to apply, and a revision that crash-loops.
 */
import t from 'tap'
import { DEPLOY_ENV, runScript } from './fixtures/run-script.js'

const KEY = 'function-key-7f3a9c'

t.test('a role that takes minutes to apply is waited for (ROLE_WAIT_SECONDS), and the last error is shown on giving up', async (t) => {
  const slow = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, ROLE_WAIT_SECONDS: '600' }, { roleDelayCalls: 3 })
  t.teardown(async () => { await slow.az.close() })
  t.equal(slow.code, 0, 'deploys', { stderr: slow.stderr })
  t.equal(slow.az.find('keyvault', 'secret', 'set').length, 5, 'written on the fourth try, then the code hash key at once')
  t.match(slow.stderr, /waiting for the Key Vault role assignment to take effect; last error: ERROR: \(Forbidden\)/, 'each wait says why')

  const never = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, ROLE_WAIT_SECONDS: '0' }, { roleDelayCalls: 1000 })
  t.teardown(async () => { await never.az.close() })
  t.equal(never.code, 1)
  t.match(never.stderr, /deploy: could not write secret third-party-api-key within ROLE_WAIT_SECONDS=0s; last error: ERROR: \(Forbidden\) Caller is not authorized .*setSecret/)
  t.same(never.az.state.roles.filter((a) => a.role === 'Key Vault Secrets Officer'), [], 'the temporary role is removed on failure too')
})

t.test('a revision that crash-loops fails the deployment at once, naming the revision', async (t) => {
  const run = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, REVISION_WAIT_SECONDS: '3600', CRASH_RESTARTS: '3' }, { crashLoop: ['api'] })
  t.teardown(async () => { await run.az.close() })
  t.equal(run.code, 1)
  t.match(run.stderr, /deploy: revision api--rtest1 is not healthy \(its logs: az containerapp logs show -n api -g codegate-rg --revision api--rtest1 --type console\): crash-looping: Provisioned\/Degraded\/Unhealthy restarts=3/)
  const polls = run.az.calls.filter((c) => c.args.some((a) => a.includes('/revisions/api--rtest1?')))
  t.equal(polls.length, 3, 'gave up after three polls, not after REVISION_WAIT_SECONDS')
  t.same(run.az.calls.filter((c) => c.args.some((a) => a.includes('/containerApps/worker'))), [], 'the worker is not deployed')
})
