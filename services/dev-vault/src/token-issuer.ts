/**
 * dev-vault's development token issuer: the parts of Entra ID an api needs to
 * check a caller's access token, so the api's real validation runs locally.
 * It signs Entra-shaped v2 app-only access tokens (RS256, `kid`, `roles`)
 * with RSA keys it makes at first start and keeps beside its certificate.
 *
 * It is NOT an identity provider: it gives any caller any role it asks for.
 * Production apis trust Entra ID's issuer, never this one.
 * https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose'
import { CodegateError } from '@codegate/shared/errors'

/** Entra ID signs access tokens with RS256 only. */
export const ALGORITHM = 'RS256'
/** Entra ID's access tokens live 60 to 90 minutes. */
export const DEFAULT_LIFETIME_SECONDS = 3600
/** Keys published at once: the current one and the one before it, so tokens signed before a rotation stay valid. */
const PUBLISHED_KEYS = 2

export const KEYS_FILE = 'token-signing-keys.json'

/** dev-vault's one tenant: in Key Vault's challenge and in the issuer's paths. */
export const DEV_VAULT_TENANT_ID = '00000000-0000-0000-0000-000000000000'

/** Paths of the issuer under a base URL, as Entra ID lays them out for a tenant. */
export function issuerPaths (tenant: string): { issuer: string, discovery: string, jwks: string, token: string } {
  return {
    issuer: `/${tenant}/v2.0`,
    discovery: `/${tenant}/v2.0/.well-known/openid-configuration`,
    jwks: `/${tenant}/discovery/v2.0/keys`,
    token: `/${tenant}/oauth2/v2.0/token`
  }
}

interface StoredKey {
  /** The private JWK, with its kid. */
  jwk: JWK & { kid: string }
  created: string
}

export interface TokenRequest {
  /** The calling app (azp); its object id (oid, sub) is derived from it. */
  clientId: string
  /** aud: the resource the scope named (`<audience>/.default`). */
  audience: string
  roles: readonly string[]
}

export interface SignOptions {
  /** Time of issue; default now. */
  now?: Date
  lifetimeSeconds?: number
  /**
   * Claims put over the standard ones, e.g. another `iss`. For tests that
   * need a token this issuer would never make on request.
   */
  claims?: JWTPayload
  /** Sign with this key instead of the current one (e.g. one that is not published), naming `kid`. */
  key?: { jwk: JWK, kid: string }
}

/** A stable, GUID-shaped object id per client id, as Entra gives each app's service principal one. */
function objectIdOf (clientId: string, tenant: string): string {
  const hex = Buffer.from(`${tenant}:${clientId}`).toString('hex').padEnd(32, '0').slice(0, 32)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

async function newKey (): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(ALGORITHM, { modulusLength: 2048, extractable: true })
  const jwk = await exportJWK(privateKey)
  // RFC 7638 thumbprint of the public part: the kid changes with the key and only with it.
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, n: jwk.n, e: jwk.e } as JWK)
  return { jwk: { ...jwk, kid, alg: ALGORITHM, use: 'sig' }, created: new Date().toISOString() }
}

/** The public half of a private RSA JWK. */
function publicJwk (jwk: StoredKey['jwk']): JWK {
  return { kty: jwk.kty, use: 'sig', alg: ALGORITHM, kid: jwk.kid, n: jwk.n, e: jwk.e }
}

function isStoredKeys (value: unknown): value is { keys: StoredKey[] } {
  const keys = (value as { keys?: unknown } | null)?.keys
  return Array.isArray(keys) && keys.length > 0 && keys.every((k: { jwk?: { kty?: unknown, kid?: unknown, d?: unknown } }) =>
    k.jwk?.kty === 'RSA' && typeof k.jwk.kid === 'string' && typeof k.jwk.d === 'string')
}

export class DevTokenIssuer {
  /** Newest last. */
  #keys: StoredKey[]
  readonly #file: string
  readonly tenant: string
  #baseUrl: string | undefined

  private constructor (file: string, keys: StoredKey[], tenant: string) {
    this.#file = file
    this.#keys = keys
    this.tenant = tenant
  }

  /**
   * Reuses the keys in `dir` (so tokens and the api's cached keys survive a
   * restart), or makes one. `created` says which happened.
   */
  static async open (dir: string, tenant: string): Promise<{ issuer: DevTokenIssuer, created: boolean }> {
    const file = join(dir, KEYS_FILE)
    let stored: unknown
    try {
      stored = JSON.parse(await readFile(file, 'utf8'))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err
    }
    if (isStoredKeys(stored)) return { issuer: new DevTokenIssuer(file, stored.keys, tenant), created: false }
    const issuer = new DevTokenIssuer(file, [await newKey()], tenant)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await issuer.#save()
    return { issuer, created: true }
  }

  /** Writes through a temporary file, 0600 from its first byte: the file holds private keys. */
  async #save (): Promise<void> {
    const tmp = `${this.#file}.${process.pid}.tmp`
    await writeFile(tmp, JSON.stringify({ keys: this.#keys }, null, 2), { mode: 0o600 })
    await rename(tmp, this.#file)
  }

  /** Sets the base URL clients reach dev-vault at; the issuer (iss) is built from it. */
  setBaseUrl (baseUrl: string): void {
    this.#baseUrl = baseUrl.replace(/\/+$/, '')
  }

  get baseUrl (): string {
    if (this.#baseUrl === undefined) throw new CodegateError('DEV_ISSUER_NO_URL', 'the token issuer has no base URL until dev-vault listens')
    return this.#baseUrl
  }

  /** `iss` of every token, e.g. https://127.0.0.1:8443/<tenant>/v2.0 (AUTH_ISSUER for the api). */
  get issuer (): string {
    return `${this.baseUrl}${issuerPaths(this.tenant).issuer}`
  }

  get tokenEndpoint (): string {
    return `${this.baseUrl}${issuerPaths(this.tenant).token}`
  }

  /** The kid tokens are signed with now. */
  get currentKid (): string {
    return (this.#keys.at(-1) as StoredKey).jwk.kid
  }

  /** The published key set: public keys only. */
  jwks (): { keys: JWK[] } {
    return { keys: this.#keys.map((k) => publicJwk(k.jwk)).reverse() }
  }

  /** OpenID Connect discovery: what the api reads to find the key set. */
  discovery (): Record<string, unknown> {
    const paths = issuerPaths(this.tenant)
    return {
      issuer: this.issuer,
      jwks_uri: `${this.baseUrl}${paths.jwks}`,
      token_endpoint: this.tokenEndpoint,
      token_endpoint_auth_methods_supported: ['client_secret_post'],
      grant_types_supported: ['client_credentials'],
      response_types_supported: ['token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: [ALGORITHM],
      tenant_region_scope: 'dev'
    }
  }

  /**
   * Makes a new signing key and signs with it from now on; the previous key
   * stays published so tokens already out stay valid. Persisted at once.
   */
  async rotate (): Promise<string> {
    this.#keys = [...this.#keys, await newKey()].slice(-PUBLISHED_KEYS)
    await this.#save()
    return this.currentKid
  }

  /** An app-only v2 access token, as Entra ID's client-credentials flow returns it. */
  async issue (request: TokenRequest, options: SignOptions = {}): Promise<{ token: string, expiresIn: number }> {
    const now = options.now ?? new Date()
    const lifetime = options.lifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS
    const iat = Math.floor(now.getTime() / 1000)
    const oid = objectIdOf(request.clientId, this.tenant)
    const claims: JWTPayload = {
      aud: request.audience,
      iss: this.issuer,
      iat,
      nbf: iat,
      exp: iat + lifetime,
      azp: request.clientId,
      azpacr: '1',
      idtyp: 'app',
      oid,
      sub: oid,
      tid: this.tenant,
      uti: randomBytes(16).toString('base64url'),
      ver: '2.0',
      ...(request.roles.length > 0 ? { roles: [...request.roles] } : {}),
      ...options.claims
    }
    const signing = options.key ?? { jwk: (this.#keys.at(-1) as StoredKey).jwk, kid: this.currentKid }
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT', kid: signing.kid })
      .sign(await importJWK(signing.jwk, ALGORITHM))
    return { token, expiresIn: lifetime }
  }
}

/** A private key no issuer publishes, for tests of forged signatures. */
export async function unpublishedKey (): Promise<JWK> {
  return (await newKey()).jwk
}

/** A client id for tools that do not name one. */
export const DEV_CLIENT_ID = 'codegate-dev-client'

/** The api's audience (AUTH_AUDIENCE) in the local system, like an application ID URI. */
export const DEV_API_AUDIENCE = 'api://codegate'
