import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// Each case starts a Node process that loads its service's modules before it reads its config: over
// 30 s on this 2-core machine at load 40. Generous bounds; the assertions are on exit code and message.
t.setTimeout(600_000)

const main = (service: string): string => fileURLToPath(new URL(`../../${service}/dist/main.js`, import.meta.url))

t.test('each service refuses to start on bad config, naming every bad variable', async (t) => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['api', {}, /^api: Invalid configuration: KEY_VAULT_URL is required; THIRD_PARTY_API_ENDPOINT is required/],
    ['api', { KEY_VAULT_URL: 'https://v', THIRD_PARTY_API_ENDPOINT: 'http://n', STORAGE_CONNECTION_STRING: 'x', PORT: 'http' }, /PORT must be integer/],
    ['api', { KEY_VAULT_URL: 'https://v', THIRD_PARTY_API_ENDPOINT: 'http://n', STORAGE_CONNECTION_STRING: 'x' }, /^api: Invalid configuration: AUTH_ISSUER is required with AUTH_MODE=entra.*; AUTH_AUDIENCE is required/],
    ['number-api', {}, /^number-api: Invalid configuration: THIRD_PARTY_API_KEYS is required/],
    ['dev-vault', { PORT: '99999' }, /^dev-vault: Invalid configuration: PORT must be <= 65535/]
  ]
  for (const [service, env, message] of cases) {
    const run = spawnSync(process.execPath, [main(service)], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 100_000 })
    t.equal(run.status, 1, `${service} exits 1`)
    t.match(run.stderr, message)
  }
})
