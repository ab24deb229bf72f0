/** infra/deploy.sh passes the api who may call it (issuer, audience, roles), against the stand-in az. */
import t, { type Test } from 'tap'
import { DEPLOY_ENV, runScript } from './fixtures/run-script.js'

const KEY = 'function-key-7f3a9c'

async function apiEnv (t: Test, env: Record<string, string>): Promise<Record<string, string>> {
  const run = await runScript('deploy.sh', { ...DEPLOY_ENV, THIRD_PARTY_API_KEY: KEY, ...env })
  t.teardown(async () => { await run.az.close() })
  t.equal(run.code, 0, 'deploys', { stderr: run.stderr })
  const resources = Object.values(run.az.state.resources) as unknown as { type: string, name: string, body?: any }[] // eslint-disable-line @typescript-eslint/no-explicit-any -- ARM JSON
  const api = resources.find((r) => r.type === 'app' && r.name === 'api')?.body
  const list = (api?.properties.template.containers[0].env ?? []) as { name: string, value: string }[]
  return Object.fromEntries(list.filter((e) => e.name.startsWith('AUTH_')).map((e) => [e.name, e.value]))
}

t.test('the api gets the issuer, audience and roles it checks callers against', async (t) => {
  t.same(await apiEnv(t, { AUTH_ISSUE_ROLE: 'Codes.Send' }), {
    AUTH_MODE: 'entra',
    AUTH_ISSUER: DEPLOY_ENV.AUTH_ISSUER,
    AUTH_AUDIENCE: DEPLOY_ENV.AUTH_AUDIENCE,
    AUTH_ISSUE_ROLE: 'Codes.Send',
    AUTH_VERIFY_ROLE: 'Codes.Verify'
  })
})

t.test('AUTH_MODE=none deploys the open api of the original sample, and needs no issuer', async (t) => {
  t.same(await apiEnv(t, { AUTH_MODE: 'none', AUTH_ISSUER: '', AUTH_AUDIENCE: '' }), { AUTH_MODE: 'none' })
})
