/**
 * The worker reads the code hash key from Key Vault (dev-vault here) to
 * hash the original sample's messages, and refuses to start without it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { CodeHasher, encodeSampleMessage, generateCode } from '@codegate/shared'
import { startAzurite } from '@codegate/stack'
import { startDevVault } from '@codegate/dev-vault'
import { startWorker } from '../src/index.js'
import { captureLogger, freshNames, storageFor, waitFor, workerConfig } from './fixtures/helpers.js'

const azurite = await startAzurite()
t.teardown(async () => { await azurite.stop() })
const certDir = await mkdtemp(join(tmpdir(), 'codegate-worker-vault-'))
t.teardown(async () => { await rm(certDir, { recursive: true, force: true }) })
const HASH_KEY = 'worker-vault-code-hash-key-0123456789'
const vault = await startDevVault(
  { logLevel: 'silent', host: '127.0.0.1', port: 0, certDir, hostnames: ['localhost', '127.0.0.1'], seed: {}, codeHashSeed: { name: 'code-hash-key', value: HASH_KEY } },
  { logger: false }
)
t.teardown(async () => { await vault.close() })
const vaultEnv = (secretName: string): Record<string, string> =>
  ({ KEY_VAULT_URL: vault.url, KEY_VAULT_CA_FILE: vault.certFile, AZURE_CREDENTIAL: 'dev', CODE_HASH_SECRET_NAME: secretName })

t.test("the sample's message is stored under the hash of its code, with the key read from the vault; no letter of it is logged", async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames(), { ...vaultEnv('code-hash-key'), QUEUE_MESSAGE_ENCODING: 'text' })
  const { queues, table } = await storageFor(config)
  const { log, lines } = captureLogger()
  const worker = await startWorker(config, { logger: log })
  t.teardown(worker.close)
  const code = generateCode(161)
  await queues.queue.sendMessage(encodeSampleMessage({ code, issuedAt: new Date() }, 'json'))
  const codeHash = new CodeHasher({ version: '', value: HASH_KEY }).hash(code)
  await waitFor('the row under the hash', async () => await table.get(codeHash), 20_000)
  const activated = await waitFor('its code.activated line', () => lines.find((l) => l.msg === 'code.activated'))
  t.match(activated, { source: 'legacy', codeId: codeHash.slice(0, 8) })
  t.notMatch(JSON.stringify(lines), code)
  t.notMatch(JSON.stringify(lines), HASH_KEY)
})

t.test('a worker whose code hash secret is missing refuses to start, naming the secret', async (t) => {
  const config = workerConfig(azurite.connectionString, freshNames(), vaultEnv('no-such-secret'))
  await t.rejects(startWorker(config, { logger: captureLogger().log }), {
    code: 'CODE_HASH_KEY_UNAVAILABLE',
    message: /secret "no-such-secret".*does not exist/
  })
})
