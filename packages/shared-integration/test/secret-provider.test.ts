import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SecretStore, startDevVault } from '@codegate/dev-vault'
import { freePort } from '@codegate/stack'
import { createSecretClient } from '@codegate/shared/clients'
import { DevTokenCredential } from '@codegate/shared/credentials'
import { SecretProvider, SecretUnavailableError } from '@codegate/shared/secret-provider'

const certDir = await mkdtemp(join(tmpdir(), 'codegate-vault-'))
t.teardown(() => rm(certDir, { recursive: true, force: true }))
/** The vault's store, counting the reads of each secret (one per GET the vault answers). */
class CountingStore extends SecretStore {
  readonly reads = new Map<string, number>()
  override get (name: string, version?: string): ReturnType<SecretStore['get']> {
    this.reads.set(name, (this.reads.get(name) ?? 0) + 1)
    return super.get(name, version)
  }
}
const store = new CountingStore()
const vault = await startDevVault({ logLevel: 'silent', host: '127.0.0.1', port: 0, certDir, hostnames: ['127.0.0.1', 'localhost'], seed: { 'third-party-api-key': 'first-key' } }, { logger: false, store })
const reads = (): number => store.reads.get('third-party-api-key') ?? 0
t.teardown(() => vault.close())

function provider (url = vault.url): SecretProvider {
  const client = createSecretClient({ keyVaultUrl: url, keyVaultCaFile: vault.certFile, secretName: 'third-party-api-key' }, new DevTokenCredential())
  return new SecretProvider(client, 'third-party-api-key')
}

t.test('reads the key through the real SecretClient and caches it', async (t) => {
  const secrets = provider()
  t.equal(secrets.loaded, false)
  const before = reads()
  t.equal(await secrets.get(), 'first-key')
  t.equal(secrets.loaded, true)
  vault.store.set('third-party-api-key', { value: 'rotated' })
  t.equal(await secrets.get(), 'first-key', 'no vault read per call')
  t.equal(reads() - before, 1, 'the vault answered one read')
  t.teardown(() => { vault.store.set('third-party-api-key', { value: 'first-key' }) })
})

t.test('refresh after a rejection reads the rotated key once for all callers', async (t) => {
  const secrets = provider()
  await secrets.get()
  vault.store.set('third-party-api-key', { value: 'second-key' })
  t.teardown(() => { vault.store.set('third-party-api-key', { value: 'first-key' }) })
  const before = reads()
  const keys = await Promise.all(Array.from({ length: 10 }, async () => await secrets.refresh('first-key')))
  t.same(new Set(keys), new Set(['second-key']))
  t.equal(reads() - before, 1, 'ten refreshes, one vault read')
  t.equal(await secrets.refresh('first-key'), 'second-key', 'a late caller with the old key gets the new one')
  t.equal(reads() - before, 1, 'without a read')
})

t.test('an unreachable vault is a typed error, and the key loads once the vault is up', async (t) => {
  const port = await freePort()
  const secrets = provider(`https://127.0.0.1:${port}`)
  await t.rejects(secrets.get(), SecretUnavailableError)
  t.equal(secrets.loaded, false, 'a failure is not cached')
  const late = await startDevVault({ logLevel: 'silent', host: '127.0.0.1', port, certDir, hostnames: ['127.0.0.1', 'localhost'], seed: { 'third-party-api-key': 'late-key' } }, { logger: false })
  t.teardown(() => late.close())
  t.equal(await secrets.get(), 'late-key')
})

t.test('a missing secret is a typed error', async (t) => {
  const client = createSecretClient({ keyVaultUrl: vault.url, keyVaultCaFile: vault.certFile, secretName: 'nope' }, new DevTokenCredential())
  const err = await new SecretProvider(client, 'nope').get().catch((e: unknown) => e)
  t.type(err, SecretUnavailableError)
  t.match((err as Error).cause, { statusCode: 404 })
})

t.test('a vault certificate the client is not told to trust is refused', async (t) => {
  const other = join(certDir, 'other.pem')
  await writeFile(other, (await import('node:tls')).rootCertificates[0] as string)
  const client = createSecretClient({ keyVaultUrl: vault.url, keyVaultCaFile: other, secretName: 'third-party-api-key' }, new DevTokenCredential())
  await t.rejects(new SecretProvider(client, 'third-party-api-key').get(), SecretUnavailableError)
})
