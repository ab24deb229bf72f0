/**
 * The secrets of one dev-vault run, in memory: versions per name, as Key
 * Vault keeps them. Nothing here is protected; it is for development only.
 */
import { randomBytes } from 'node:crypto'

/** Key Vault's rule for object names. */
export const SECRET_NAME_PATTERN = /^[0-9A-Za-z-]{1,127}$/

/** dev-vault has no soft delete: a deleted secret is gone at once. */
export const RECOVERY_LEVEL = 'Purgeable'

export interface SecretAttributes {
  enabled: boolean
  /** Not before, unix seconds. */
  nbf?: number
  /** Expires, unix seconds. */
  exp?: number
  /** Unix seconds. */
  created: number
  /** Unix seconds. */
  updated: number
  recoveryLevel: typeof RECOVERY_LEVEL
}

export interface StoredSecret {
  name: string
  /** 32 hex characters, as Key Vault's. */
  version: string
  value: string
  contentType?: string
  tags?: Record<string, string>
  attributes: SecretAttributes
}

export interface SetSecretInput {
  value: string
  contentType?: string
  tags?: Record<string, string>
  attributes?: { enabled?: boolean, nbf?: number, exp?: number }
}

export class SecretStore {
  // Key Vault names are case-insensitive: the map is keyed by the lower-cased name.
  readonly #versions = new Map<string, StoredSecret[]>()

  /** Adds a new version of `name` (creating the secret) and returns it. */
  set (name: string, input: SetSecretInput, now = Date.now()): StoredSecret {
    if (!SECRET_NAME_PATTERN.test(name)) throw new RangeError(`invalid secret name: ${name}`)
    const seconds = Math.floor(now / 1000)
    const versions = this.#versions.get(name.toLowerCase()) ?? []
    const secret: StoredSecret = {
      // The first spelling of a name stays its spelling, as in Key Vault.
      name: versions[0]?.name ?? name,
      version: randomBytes(16).toString('hex'),
      value: input.value,
      ...(input.contentType !== undefined ? { contentType: input.contentType } : {}),
      ...(input.tags !== undefined ? { tags: { ...input.tags } } : {}),
      attributes: {
        enabled: input.attributes?.enabled ?? true,
        ...(input.attributes?.nbf !== undefined ? { nbf: input.attributes.nbf } : {}),
        ...(input.attributes?.exp !== undefined ? { exp: input.attributes.exp } : {}),
        created: seconds,
        updated: seconds,
        recoveryLevel: RECOVERY_LEVEL
      }
    }
    versions.push(secret)
    this.#versions.set(name.toLowerCase(), versions)
    return secret
  }

  /** The latest version of `name`, or the given version; undefined when either is unknown. */
  get (name: string, version?: string): StoredSecret | undefined {
    const versions = this.#versions.get(name.toLowerCase())
    if (versions === undefined) return undefined
    if (version === undefined || version === '') return versions.at(-1)
    const wanted = version.toLowerCase()
    return versions.find((v) => v.version === wanted)
  }

  /** The latest version of every secret. */
  list (): StoredSecret[] {
    return [...this.#versions.values()].map((versions) => versions.at(-1)).filter((s): s is StoredSecret => s !== undefined)
  }

  /** Every version of `name`, oldest first; undefined for an unknown name. */
  versions (name: string): StoredSecret[] | undefined {
    const versions = this.#versions.get(name.toLowerCase())
    return versions === undefined ? undefined : [...versions]
  }

  /** Removes every version of `name`; returns the latest, or undefined for an unknown name. */
  delete (name: string): StoredSecret | undefined {
    const latest = this.get(name)
    this.#versions.delete(name.toLowerCase())
    return latest
  }
}
