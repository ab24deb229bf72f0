/**
 * Checks callers' access tokens: Entra ID app-only tokens (or dev-vault's,
 * which have the same shape). The JOSE work is jose's: the signature against
 * the issuer's published keys (found by OpenID discovery, cached, fetched again
 * on an unknown `kid`), `iss`, `aud`, `exp`/`nbf` with a small skew, and only
 * RS256, which is all Entra ID signs with (so `alg: none` and HS256 tokens
 * made with the public key are refused before any key is looked up).
 * This module adds the app-role check and sorts failures into the caller's
 * fault (401/403) and ours (503).
 */
import { request as httpsRequest } from 'node:https'
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import type { CallerAuthConfig } from '@codegate/shared/config'
import { CodegateError } from '@codegate/shared/errors'

export type EntraAuthConfig = Extract<CallerAuthConfig, { mode: 'entra' }>

/** Who called, from a verified token. */
export interface Caller {
  /** The calling app's client id (azp in v2 tokens, appid in v1). */
  appId: string | undefined
  /** The calling app's service principal (or managed identity) object id. */
  objectId: string | undefined
  roles: string[]
}

/** The token is missing, malformed, forged, expired or not for us: 401. `reason` is for logs only. */
export class TokenRejectedError extends CodegateError {
  constructor (readonly reason: string, options?: ErrorOptions) {
    super('TOKEN_REJECTED', `access token refused: ${reason}`, options)
  }
}

/** The issuer's keys could not be had, so no token can be checked: 503, never the caller's fault. */
export class IssuerUnavailableError extends CodegateError {
  constructor (message: string, options?: ErrorOptions) {
    super('ISSUER_UNAVAILABLE', message, options)
  }
}

/** Verified tokens remembered at once; the oldest is dropped beyond this. Only valid tokens get in. */
const MAX_REMEMBERED = 1024

export interface VerifierOptions {
  /** Least time between two key-set fetches caused by unknown kids (jose's cooldown); default 30 s. */
  jwksCooldownMs?: number
  /** Key sets older than this are fetched again before use; default 12 h, as Microsoft.IdentityModel's automatic refresh. */
  jwksMaxAgeMs?: number
  /** Per discovery or key-set request; default 5 s. */
  timeoutMs?: number
}

type FetchLike = (url: string, init: { method?: string, headers?: ConstructorParameters<typeof Headers>[0], signal?: AbortSignal | null }) => Promise<Response>

/**
 * fetch over node:https with a CA of our own (dev-vault's certificate): Node
 * 20's fetch takes no CA without undici's dispatcher, which is not a module
 * we depend on. Redirects are not followed (jose asks for manual too).
 */
export function fetchTrusting (ca: string | Buffer | undefined): FetchLike {
  return async (url, init) => await new Promise<Response>((resolve, reject) => {
    const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries())
    const req = httpsRequest(url, { method: init.method ?? 'GET', headers, ...(ca !== undefined ? { ca } : {}), ...(init.signal != null ? { signal: init.signal } : {}) }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        // A key set or discovery document is a few KB; do not buffer whatever an endpoint sends.
        if (size > 1024 * 1024) req.destroy(new IssuerUnavailableError(`${url} sent more than 1 MiB`))
        else chunks.push(chunk)
      })
      res.on('end', () => {
        const responseHeaders = new Headers()
        for (const [name, value] of Object.entries(res.headers)) {
          if (typeof value === 'string') responseHeaders.set(name, value)
        }
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 502, headers: responseHeaders }))
      })
      res.on('error', reject)
    })
    req.on('error', (err) => {
      // jose turns a TimeoutError into JWKSTimeout; keep the name an abort carries.
      reject(init.signal?.aborted === true ? init.signal.reason : err)
    })
    req.end()
  })
}

const stringClaim = (payload: JWTPayload, name: string): string | undefined =>
  typeof payload[name] === 'string' ? payload[name] : undefined

/** Why jose refused a token, in words for the log; never the token or its claims' values. */
function reasonOf (err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'expired'
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} failed (${err.reason})`
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify'
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed'
  if (err instanceof errors.JWKSNoMatchingKey) return 'no published key matches its kid'
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'several published keys match'
  if (err instanceof errors.JOSENotSupported) return 'unsupported'
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'malformed'
  return 'invalid'
}

export class TokenVerifier {
  readonly #config: EntraAuthConfig
  readonly #options: Required<VerifierOptions>
  readonly #fetch: FetchLike
  #keys: Promise<JWTVerifyGetKey> | undefined
  /**
   * Tokens already verified, by their exact text, until they expire. A caller
   * sends the same token for its whole life (an hour from Entra ID), and an
   * RS256 check per request is most of what authentication costs
   * (docs/benchmarks.md). Nothing a check depends on can change for the same
   * bytes before `exp`, except the issuer withdrawing its key, which the key
   * set's own caching already delays.
   */
  readonly #verified = new Map<string, { caller: Caller, exp: number }>()

  constructor (config: EntraAuthConfig, ca: string | Buffer | undefined, options: VerifierOptions = {}) {
    this.#config = config
    this.#fetch = fetchTrusting(ca)
    this.#options = {
      jwksCooldownMs: options.jwksCooldownMs ?? 30_000,
      jwksMaxAgeMs: options.jwksMaxAgeMs ?? 12 * 3600_000,
      timeoutMs: options.timeoutMs ?? 5000
    }
  }

  /** The issuer's key set, found through its discovery document once; tried again after a failure. */
  async #keySet (): Promise<JWTVerifyGetKey> {
    this.#keys ??= this.#discover().catch((err: unknown) => {
      this.#keys = undefined
      throw err
    })
    return await this.#keys
  }

  async #discover (): Promise<JWTVerifyGetKey> {
    const url = `${this.#config.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
    let document: { issuer?: unknown, jwks_uri?: unknown }
    try {
      const response = await this.#fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.#options.timeoutMs) })
      if (response.status !== 200) throw new Error(`status ${response.status}`)
      document = await response.json() as typeof document
    } catch (err) {
      throw new IssuerUnavailableError(`could not read ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was read for.
    if (document.issuer !== this.#config.issuer) {
      throw new IssuerUnavailableError(`${url} names the issuer ${String(document.issuer)}, not AUTH_ISSUER ${this.#config.issuer}`)
    }
    if (typeof document.jwks_uri !== 'string' || !document.jwks_uri.startsWith('https://')) {
      throw new IssuerUnavailableError(`${url} has no https jwks_uri`)
    }
    return createRemoteJWKSet(new URL(document.jwks_uri), {
      cooldownDuration: this.#options.jwksCooldownMs,
      cacheMaxAge: this.#options.jwksMaxAgeMs,
      timeoutDuration: this.#options.timeoutMs,
      [customFetch]: this.#fetch
    })
  }

  /** Reads discovery and the key set now, so the first caller does not wait and a wrong issuer shows at start. */
  async warmUp (): Promise<void> {
    const keys = await this.#keySet()
    try {
      await (keys as JWTVerifyGetKey & { reload: () => Promise<void> }).reload()
    } catch (err) {
      throw new IssuerUnavailableError(`could not read the issuer's key set: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
  }

  /** The caller a token stands for; throws TokenRejectedError or IssuerUnavailableError. */
  async verify (token: string): Promise<Caller> {
    const remembered = this.#verified.get(token)
    if (remembered !== undefined) {
      if (Date.now() / 1000 < remembered.exp + this.#config.clockSkewSeconds) return remembered.caller
      // Expired: checked again in full, which refuses it with the reason.
      this.#verified.delete(token)
    }
    return await this.#verify(token)
  }

  async #verify (token: string): Promise<Caller> {
    const keys = await this.#keySet()
    // Failures to fetch keys surface from inside jwtVerify; mark them so they are not blamed on the caller.
    const getKey: JWTVerifyGetKey = async (header, input) => {
      try {
        return await keys(header, input)
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) throw err
        throw new IssuerUnavailableError(`could not read the issuer's key set: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
      }
    }
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: this.#config.issuer,
        audience: this.#config.audiences,
        algorithms: ['RS256'],
        clockTolerance: this.#config.clockSkewSeconds,
        requiredClaims: ['exp']
      }))
    } catch (err) {
      if (err instanceof IssuerUnavailableError) throw err
      throw new TokenRejectedError(reasonOf(err), { cause: err })
    }
    const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : []
    const caller: Caller = {
      appId: stringClaim(payload, 'azp') ?? stringClaim(payload, 'appid'),
      objectId: stringClaim(payload, 'oid'),
      roles
    }
    if (this.#verified.size >= MAX_REMEMBERED) {
      const oldest = this.#verified.keys().next().value
      if (oldest !== undefined) this.#verified.delete(oldest)
    }
    // requiredClaims made exp a number.
    this.#verified.set(token, { caller, exp: payload.exp as number })
    return caller
  }
}
