/**
 * Codes at rest: the table, the queue and the logs hold HMAC-SHA256(key, code)
 * (64 lowercase hex characters, safe as a table RowKey), never the code, so a
 * reader of storage cannot sign in. The key is its own Key Vault secret
 * (CODE_HASH_SECRET_NAME). Logs name a code by `codeIdOf(hash)`, the first 8
 * hex characters of its hash.
 *
 * Rotation: a new secret version becomes the current key; the previous
 * version is still accepted at sign-in while the current one is younger than
 * a code's life plus one refresh interval (docs/security.md, "Code hash key").
 */
import { createHmac, randomBytes } from 'node:crypto'
import type { SecretClient } from '@azure/keyvault-secrets'
import { CodegateError, statusOf } from './errors.js'

/** What a stored code looks like: the hex HMAC-SHA256. */
export const CODE_HASH_PATTERN = '^[0-9a-f]{64}$'
const codeHashRegExp = new RegExp(CODE_HASH_PATTERN)

/** Shortest accepted key; infra/deploy.sh makes 32 random bytes, 44 characters of base64. */
export const MIN_CODE_HASH_KEY_LENGTH = 32

/** Hex characters of a code's hash that name it in logs. */
export const CODE_ID_LENGTH = 8

export function isCodeHash (value: unknown): value is string {
  return typeof value === 'string' && codeHashRegExp.test(value)
}

/** The log name of a stored code: enough to find its row, nothing of its letters. */
export function codeIdOf (codeHash: string): string {
  return codeHash.slice(0, CODE_ID_LENGTH)
}

/** The key is unusable: the process says which secret and why, and does not hash with it. */
export class CodeHashKeyError extends CodegateError {
  constructor (secretName: string, problem: string, options?: ErrorOptions) {
    super('CODE_HASH_KEY_UNAVAILABLE', `code hash key (secret "${secretName}"): ${problem}`, options)
  }
}

export interface CodeHashKey {
  /** The Key Vault secret version ('' for a key given directly). */
  version: string
  value: string
  createdOn?: Date
}

/** A key ring of one current key and, during a rotation, the previous one. */
export class CodeHasher {
  readonly #current: Buffer
  readonly #previous: Buffer | undefined

  constructor (readonly current: CodeHashKey, readonly previous?: CodeHashKey, secretName = 'code hash key') {
    this.#current = checkedKey(current.value, secretName)
    this.#previous = previous !== undefined ? checkedKey(previous.value, secretName) : undefined
  }

  /** The hash a code is stored under: always the current key. */
  hash (code: string): string {
    return createHmac('sha256', this.#current).update(code, 'utf8').digest('hex')
  }

  /** Every hash sign-in may find a code under: current key first, then the previous one. */
  candidates (code: string): string[] {
    const out = [this.hash(code)]
    if (this.#previous !== undefined) out.push(createHmac('sha256', this.#previous).update(code, 'utf8').digest('hex'))
    return out
  }
}

function checkedKey (value: string, secretName: string): Buffer {
  if (value.trim().length < MIN_CODE_HASH_KEY_LENGTH) {
    throw new CodeHashKeyError(secretName, `the value is ${value.trim().length === 0 ? 'empty' : 'too short'}; it must be at least ${MIN_CODE_HASH_KEY_LENGTH} characters (infra/deploy.sh makes 32 random bytes in base64)`)
  }
  return Buffer.from(value, 'utf8')
}

export interface CodeHashKeysOptions {
  client: Pick<SecretClient, 'getSecret' | 'listPropertiesOfSecretVersions'>
  secretName: string
  /**
   * How long after a new version is created the previous one is still accepted:
   * a code's life, plus the time other processes may still hash with the old
   * key (one refresh interval), plus clock skew.
   */
  previousGraceSeconds: number
  now?: () => Date
}

/**
 * The key ring read from Key Vault: every enabled version of the secret,
 * newest first; the newest is current, the one before it is kept while the
 * newest is younger than `previousGraceSeconds`. `load` is single-flight and
 * may be called again to pick up a rotation.
 */
export class CodeHashKeys {
  #hasher: CodeHasher | undefined
  #pending: Promise<CodeHasher> | undefined

  constructor (private readonly options: CodeHashKeysOptions) {}

  get name (): string {
    return this.options.secretName
  }

  get loaded (): boolean {
    return this.#hasher !== undefined
  }

  /** The loaded key ring; throws CodeHashKeyError before the first load succeeded. */
  get hasher (): CodeHasher {
    if (this.#hasher === undefined) throw new CodeHashKeyError(this.name, 'not loaded yet')
    return this.#hasher
  }

  /** Reads the versions again; the old key ring stays in use if this fails. */
  async load (): Promise<CodeHasher> {
    this.#pending ??= this.#read().finally(() => { this.#pending = undefined })
    return await this.#pending
  }

  async #read (): Promise<CodeHasher> {
    const { client, secretName, previousGraceSeconds } = this.options
    const now = (this.options.now ?? (() => new Date()))()
    const versions: { version: string, createdOn: Date }[] = []
    try {
      for await (const p of client.listPropertiesOfSecretVersions(secretName)) {
        const usable = p.enabled !== false && p.version !== undefined && (p.notBefore === undefined || p.notBefore <= now) && (p.expiresOn === undefined || p.expiresOn > now)
        if (usable) versions.push({ version: p.version as string, createdOn: p.createdOn ?? new Date(0) })
      }
    } catch (err) {
      throw new CodeHashKeyError(secretName, statusOf(err) === 404 ? 'the secret does not exist (infra/deploy.sh creates it; dev-vault seeds it)' : 'could not list its versions', { cause: err })
    }
    if (versions.length === 0) throw new CodeHashKeyError(secretName, 'the secret has no enabled version')
    versions.sort((a, b) => b.createdOn.getTime() - a.createdOn.getTime())
    const [newest, before] = versions as [{ version: string, createdOn: Date }, { version: string, createdOn: Date } | undefined]
    const keepPrevious = before !== undefined && now.getTime() - newest.createdOn.getTime() < previousGraceSeconds * 1000
    const read = async (v: { version: string, createdOn: Date }): Promise<CodeHashKey> => {
      try {
        const secret = await client.getSecret(secretName, { version: v.version })
        return { version: v.version, value: secret.value ?? '', createdOn: v.createdOn }
      } catch (err) {
        throw new CodeHashKeyError(secretName, `could not read version ${v.version}`, { cause: err })
      }
    }
    const [current, previous] = await Promise.all([read(newest), keepPrevious ? read(before) : Promise.resolve(undefined)])
    this.#hasher = new CodeHasher(current, previous, secretName)
    return this.#hasher
  }
}

/** A key ring with a random key of its own: for tools whose codes nobody signs in with (benchmarks) and for tests. */
export function randomHasher (): CodeHasher {
  return new CodeHasher({ version: '', value: randomBytes(32).toString('base64') })
}
