/**
 * The code hash key ring read from Key Vault (dev-vault here, through the
 * real SecretClient): which versions count, how long the previous one is
 * kept, and what happens when the secret is missing, unusable or unreachable.
 * The hash itself is tested in packages/shared/test/code-hash.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { SecretStore, startDevVault } from '@codegate/dev-vault'
import { freePort } from '@codegate/stack'
import { createSecretClient } from '@codegate/shared/clients'
import { CodeHasher, CodeHashKeyError, CodeHashKeys } from '@codegate/shared/code-hash'
import { DevTokenCredential } from '@codegate/shared/credentials'

const certDir = await mkdtemp(join(tmpdir(), 'codegate-code-hash-'))
t.teardown(() => rm(certDir, { recursive: true, force: true }))
/** The vault's store, counting the version listings it answers. */
class CountingStore extends SecretStore {
  listings = 0
  override versions (name: string): ReturnType<SecretStore['versions']> {
    this.listings++
    return super.versions(name)
  }
}
const store = new CountingStore()
const vault = await startDevVault({ logLevel: 'silent', host: '127.0.0.1', port: 0, certDir, hostnames: ['127.0.0.1', 'localhost'], seed: {} }, { logger: false, store })
t.teardown(() => vault.close())

const KEY_1 = 'first-code-hash-key-0123456789abcdef'
const KEY_2 = 'second-code-hash-key-0123456789abcdef'
const KEY_3 = 'third-code-hash-key-0123456789abcdef'
const HOUR_MS = 3600_000
/** The time of the vault's newest version in each test: an hour ago, so the tests' clocks can be before or after it. */
const T0 = Math.floor((Date.now() - HOUR_MS) / 1000) * 1000
const seconds = (ms: number): number => Math.floor(ms / 1000)

let n = 0
/** A secret name no other test uses. */
const freshName = (): string => `hash-${++n}`

function keysFor (secretName: string, opts: { graceSeconds?: number, now?: number, url?: string } = {}): CodeHashKeys {
  const client = createSecretClient({ keyVaultUrl: opts.url ?? vault.url, keyVaultCaFile: vault.certFile, secretName }, new DevTokenCredential())
  const now = opts.now
  return new CodeHashKeys({ client, secretName, previousGraceSeconds: opts.graceSeconds ?? 600, ...(now !== undefined ? { now: () => new Date(now) } : {}) })
}

const valuesOf = (hasher: CodeHasher): [string, string | undefined] => [hasher.current.value, hasher.previous?.value]

t.test('before its first load the key ring refuses to hash, naming the secret', async (t) => {
  const keys = keysFor('hash-never-loaded')
  t.equal(keys.loaded, false)
  t.equal(keys.name, 'hash-never-loaded')
  t.throws(() => keys.hasher, { code: 'CODE_HASH_KEY_UNAVAILABLE', message: /secret "hash-never-loaded".*not loaded yet/ })
})

t.test('the newest version is current; the one before is kept while the newest is younger than the grace, then dropped', async (t) => {
  const name = freshName()
  store.set(name, { value: KEY_1 }, T0 - 2 * HOUR_MS)
  store.set(name, { value: KEY_2 }, T0)
  const within = await keysFor(name, { graceSeconds: 600, now: T0 + 599_000 }).load()
  t.same(valuesOf(within), [KEY_2, KEY_1], 'within the grace: current and previous')
  t.equal(within.current.createdOn?.getTime(), T0, 'the current key is the version created last')
  t.same(within.candidates('ojE-161-pTv'), [
    new CodeHasher({ version: '', value: KEY_2 }).hash('ojE-161-pTv'),
    new CodeHasher({ version: '', value: KEY_1 }).hash('ojE-161-pTv')
  ], 'sign-in tries both keys, current first')
  t.same(valuesOf(await keysFor(name, { graceSeconds: 600, now: T0 + 601_000 }).load()), [KEY_2, undefined], 'past the grace: the current only')
  t.same(valuesOf(await keysFor(name, { graceSeconds: 0, now: T0 + 1000 }).load()), [KEY_2, undefined], 'no grace (the worker): the current only')
})

t.test('only the newest and the one before count: an older version is never accepted', async (t) => {
  const name = freshName()
  store.set(name, { value: KEY_1 }, T0 - 2 * HOUR_MS)
  store.set(name, { value: KEY_2 }, T0 - HOUR_MS)
  store.set(name, { value: KEY_3 }, T0)
  t.same(valuesOf(await keysFor(name, { graceSeconds: 3 * 3600, now: T0 }).load()), [KEY_3, KEY_2])
})

t.test('the newest is the one created last, whatever order the vault lists the versions in', async (t) => {
  const name = freshName()
  // Added first but created last: Key Vault does not promise to list versions in any order.
  store.set(name, { value: KEY_2 }, T0)
  store.set(name, { value: KEY_1 }, T0 - HOUR_MS)
  t.same(valuesOf(await keysFor(name, { graceSeconds: 600, now: T0 + 1000 }).load()), [KEY_2, KEY_1])
})

t.test('a disabled, not yet valid or expired version is passed over, whichever place it has', async (t) => {
  const now = T0 + 60_000
  const cases: Array<[string, { enabled?: boolean, nbf?: number, exp?: number }]> = [
    ['disabled', { enabled: false }],
    ['not valid before a time still to come', { nbf: seconds(now + 60_000) }],
    ['expired', { exp: seconds(now - 1000) }]
  ]
  for (const [what, attributes] of cases) {
    const newest = freshName()
    store.set(newest, { value: KEY_1 }, T0 - HOUR_MS)
    store.set(newest, { value: KEY_2, attributes }, T0)
    t.same(valuesOf(await keysFor(newest, { now }).load()), [KEY_1, undefined], `newest ${what}: the one before is current`)
    const previous = freshName()
    store.set(previous, { value: KEY_1, attributes }, T0 - HOUR_MS)
    store.set(previous, { value: KEY_2 }, T0)
    t.same(valuesOf(await keysFor(previous, { now }).load()), [KEY_2, undefined], `previous ${what}: not kept, even within the grace`)
  }
  const bounded = freshName()
  store.set(bounded, { value: KEY_1, attributes: { nbf: seconds(now - 1000), exp: seconds(now + 1000) } }, T0)
  t.same(valuesOf(await keysFor(bounded, { now }).load()), [KEY_1, undefined], 'within its validity a version counts')
})

t.test('a second load picks up a rotation', async (t) => {
  const name = freshName()
  store.set(name, { value: KEY_1 }, T0 - HOUR_MS)
  const keys = keysFor(name, { graceSeconds: 600, now: T0 + 1000 })
  t.same(valuesOf(await keys.load()), [KEY_1, undefined])
  store.set(name, { value: KEY_2 }, T0)
  await keys.load()
  t.same(valuesOf(keys.hasher), [KEY_2, KEY_1], 'the new version is current, the old one kept for the grace')
})

t.test('concurrent loads make one read of the vault', async (t) => {
  const name = freshName()
  store.set(name, { value: KEY_1 }, T0)
  const keys = keysFor(name)
  const before = store.listings
  const hashers = await Promise.all(Array.from({ length: 10 }, async () => await keys.load()))
  t.equal(store.listings - before, 1, 'ten loads, one listing')
  t.equal(new Set(hashers).size, 1, 'one key ring for all')
  await keys.load()
  t.equal(store.listings - before, 2, 'a load after the first ended reads again')
})

t.test('a missing secret, or one with no usable version, is a CodeHashKeyError that says which and why', async (t) => {
  await t.rejects(keysFor('hash-no-such-secret').load(), { code: 'CODE_HASH_KEY_UNAVAILABLE', message: /secret "hash-no-such-secret".*does not exist/ })
  const disabled = freshName()
  store.set(disabled, { value: KEY_1, attributes: { enabled: false } }, T0)
  const err = await keysFor(disabled).load().catch((e: unknown) => e)
  t.type(err, CodeHashKeyError)
  t.match(err, { message: new RegExp(`secret "${disabled}".*no enabled version`) })
})

t.test('a short key in the vault is refused without naming it, and the key ring loaded before stays in use', async (t) => {
  const name = freshName()
  store.set(name, { value: KEY_1 }, T0 - HOUR_MS)
  const keys = keysFor(name, { graceSeconds: 0 })
  await keys.load()
  const short = 'short-key-value'
  store.set(name, { value: short }, T0)
  const err = await keys.load().catch((e: unknown) => e)
  t.match(err, { code: 'CODE_HASH_KEY_UNAVAILABLE', message: new RegExp(`secret "${name}".*too short`) })
  t.notOk((err as Error).message.includes(short), 'the value is not in the message')
  t.equal(keys.loaded, true)
  t.same(valuesOf(keys.hasher), [KEY_1, undefined], 'codes are still hashed with the last good key')
})

t.test('an unreachable vault: the load fails with the cause, and a later one succeeds', async (t) => {
  const name = freshName()
  store.set(name, { value: KEY_1 }, T0)
  const port = await freePort()
  const keys = keysFor(name, { url: `https://127.0.0.1:${port}` })
  const err = await keys.load().catch((e: unknown) => e)
  t.match(err, { code: 'CODE_HASH_KEY_UNAVAILABLE', message: new RegExp(`secret "${name}".*could not list its versions`) })
  t.ok((err as Error).cause, 'the SDK\'s error is kept as the cause')
  t.equal(keys.loaded, false, 'a failure is not cached')
  const late = await startDevVault({ logLevel: 'silent', host: '127.0.0.1', port, certDir, hostnames: ['127.0.0.1', 'localhost'], seed: {} }, { logger: false, store })
  t.teardown(() => late.close())
  t.same(valuesOf(await keys.load()), [KEY_1, undefined])
})
