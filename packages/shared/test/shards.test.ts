/** Queue shards: names, the hash that picks one, the config that refuses bad names, and the spread over shards and table partitions. */
import t from 'tap'
import { LETTERS, partitionKeyOf } from '../src/code.js'
import { createQueues } from '../src/clients.js'
import { ConfigError } from '../src/errors.js'
import { fragments, readEnv, storageConfig, type Env, type StorageConfig } from '../src/config.js'
import { MAX_QUEUE_SHARDS, queueNameProblem, shardOf, shardQueueNames } from '../src/shards.js'

const local = {
  KEY_VAULT_URL: 'https://127.0.0.1:8443',
  THIRD_PARTY_API_ENDPOINT: 'http://127.0.0.1:7071/api/RandomNumber',
  STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true'
}

/** The storage settings as every process that reads them loads them (api, worker, functions). */
const loadStorageConfig = (env: Env): StorageConfig => storageConfig(readEnv({ properties: fragments.storage, required: [] }, env))

function configError (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

/** Codes in the real syntax from a seeded generator (mulberry32), so the figures below are the same on every run. */
function seededCodes (count: number, seed: number): string[] {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const letters = (): string => Array.from({ length: 3 }, () => LETTERS[Math.floor(next() * LETTERS.length)]).join('')
  return Array.from({ length: count }, () => `${letters()}-${1 + Math.floor(next() * 1000)}-${letters()}`)
}

/** Pearson's chi-square of `counts` against an even spread. */
function chiSquare (counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0)
  const expected = total / counts.length
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0)
}

t.test('one shard is the single base queue, exactly as before', async (t) => {
  t.same(shardQueueNames('code-requests', 1), ['code-requests'])
  const config = loadStorageConfig(local)
  t.equal(config.queueShards, 1, 'QUEUE_SHARDS defaults to 1')
  const queues = createQueues(config)
  t.equal(queues.shards.length, 1)
  t.equal(queues.shards[0], queues.queue, 'the one shard is the base queue client')
  t.equal(queues.queue.name, 'code-requests')
  t.equal(queues.poison.name, 'code-requests-poison')
  for (const code of seededCodes(100, 7)) t.equal(shardOf(code, 1), 0)
})

t.test('shard 0 keeps the base name, so what only knows the base queue still lands in a shard that is read', async (t) => {
  t.same(shardQueueNames('code-requests', 4), ['code-requests', 'code-requests-1', 'code-requests-2', 'code-requests-3'])
  const queues = createQueues(loadStorageConfig({ ...local, QUEUE_SHARDS: '4' }))
  t.same(queues.shards.map((q) => q.name), ['code-requests', 'code-requests-1', 'code-requests-2', 'code-requests-3'])
  t.equal(queues.poison.name, 'code-requests-poison', 'one poison queue for all shards')
})

t.test('with a queue URL the shard names replace the last path segment, and shard 0 is the URL itself', async (t) => {
  const url = 'https://acct.queue.core.windows.net/code-requests'
  const config = loadStorageConfig({ STORAGE_QUEUE_URL: url, QUEUE_SHARDS: '3' })
  const fakeCredential = { getToken: async () => null }
  const queues = createQueues(config, fakeCredential)
  t.same(queues.shards.map((q) => q.url), [url, `${url}-1`, `${url}-2`])
  t.equal(queues.poison.url, `${url}-poison`)
  // Azurite's path-style URL puts the account first.
  const azurite = createQueues(loadStorageConfig({ STORAGE_QUEUE_URL: 'https://127.0.0.1:10001/devstoreaccount1/q-a', STORAGE_TABLE_URL: 'https://127.0.0.1:10002/devstoreaccount1', QUEUE_SHARDS: '2' }), fakeCredential)
  t.same(azurite.shards.map((q) => q.name), ['q-a', 'q-a-1'])
})

t.test('a shard count that makes an invalid queue name is refused at start, naming the variable', async (t) => {
  const long = 'q'.repeat(56)
  t.equal(queueNameProblem(`${long}-poison`), undefined, 'a 56-character base leaves room for -poison')
  t.equal(loadStorageConfig({ ...local, STORAGE_QUEUE_NAME: long }).queueShards, 1)
  const tooLong = configError(() => loadStorageConfig({ ...local, STORAGE_QUEUE_NAME: 'q'.repeat(57) }))
  t.same(tooLong.variables, ['STORAGE_QUEUE_NAME'])
  t.match(tooLong.message, /derived queue name "q{57}-poison".*64 characters long; a queue name has 3 to 63/)
  const base = 'q'.repeat(55)
  t.equal(loadStorageConfig({ ...local, STORAGE_QUEUE_NAME: base, QUEUE_SHARDS: '10' }).queueShards, 10, 'q…-9 is 57 characters')
  t.match(configError(() => loadStorageConfig({ ...local, STORAGE_QUEUE_NAME: 'q'.repeat(61), QUEUE_SHARDS: '10' })).message, /QUEUE_SHARDS=10/)
  const fromUrl = configError(() => loadStorageConfig({ STORAGE_QUEUE_URL: 'https://acct.queue.core.windows.net/Code_Requests' }))
  t.same(fromUrl.variables, ['STORAGE_QUEUE_URL'])
  t.match(fromUrl.message, /"Code_Requests".*lowercase letters, digits and hyphens/)
  t.same(configError(() => loadStorageConfig({ ...local, QUEUE_SHARDS: '0' })).variables, ['QUEUE_SHARDS'])
  t.same(configError(() => loadStorageConfig({ ...local, QUEUE_SHARDS: String(MAX_QUEUE_SHARDS + 1) })).variables, ['QUEUE_SHARDS'])
  t.same(configError(() => loadStorageConfig({ ...local, QUEUE_SHARDS: 'four' })).variables, ['QUEUE_SHARDS'])
})

t.test('the Azure queue name rules', async (t) => {
  for (const good of ['abc', 'code-requests', 'a1-b2', '0' + 'x'.repeat(62)]) t.equal(queueNameProblem(good), undefined, good)
  for (const bad of ['ab', 'x'.repeat(64), 'Code', 'a_b', '-ab', 'ab-', 'a--b', 'a.b']) t.type(queueNameProblem(bad), 'string', bad)
})

t.test('codes spread evenly over the shards and over the 256 table partitions', async (t) => {
  const codes = seededCodes(102_400, 1)
  const partitions = new Map<string, number>()
  for (const code of codes) {
    const key = partitionKeyOf(code)
    partitions.set(key, (partitions.get(key) ?? 0) + 1)
  }
  const pCounts = [...partitions.values()]
  t.equal(partitions.size, 256, 'every partition is used')
  // 255 degrees of freedom: mean 255, sd 22.6; 350 is p < 0.0001 for an even spread.
  const pChi = chiSquare(pCounts)
  t.ok(pChi < 350, `partition chi-square ${pChi.toFixed(1)} (df 255)`)
  t.ok(Math.max(...pCounts) < 1.25 * 400, `busiest partition ${Math.max(...pCounts)} of 400 expected`)
  t.comment(`partitions: chi-square ${pChi.toFixed(1)} (df 255), min ${Math.min(...pCounts)}, max ${Math.max(...pCounts)}, expected 400`)

  for (const n of [4, 7, 16]) {
    const shards = new Array<number>(n).fill(0)
    for (const code of codes) {
      const shard = shardOf(code, n)
      shards[shard] = (shards[shard] ?? 0) + 1
    }
    const chi = chiSquare(shards)
    t.ok(chi < n * 4, `${n} shards: chi-square ${chi.toFixed(1)} (df ${n - 1}), counts ${shards.join(' ')}`)
  }

  // Within one shard the codes still use every partition evenly: the two hashes are independent.
  const inShard = codes.filter((c) => shardOf(c, 4) === 0)
  const perPartition = new Map<string, number>()
  for (const code of inShard) {
    const key = partitionKeyOf(code)
    perPartition.set(key, (perPartition.get(key) ?? 0) + 1)
  }
  t.equal(perPartition.size, 256, 'one shard\'s codes reach every partition')
  t.ok(chiSquare([...perPartition.values()]) < 350, `shard 0's partition chi-square ${chiSquare([...perPartition.values()]).toFixed(1)}`)
})
