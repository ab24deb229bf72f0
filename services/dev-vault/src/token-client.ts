/**
 * The client side of dev-vault's token endpoint: a client-credentials request
 * over https trusting dev-vault's certificate. `npm run token`, the tests, the
 * soak and the benchmarks get their tokens here, through the real endpoint.
 */
import { request } from 'node:https'
import { CodegateError } from '@codegate/shared/errors'
import { DEV_CLIENT_ID } from './token-issuer.js'

export interface DevTokenOptions {
  /** e.g. https://127.0.0.1:8443/<tenant>/oauth2/v2.0/token */
  tokenEndpoint: string
  /** dev-vault's certificate (PEM). */
  ca: string | Buffer
  /** The api's audience (AUTH_AUDIENCE); the scope asked for is <audience>/.default. */
  audience: string
  roles: readonly string[]
  clientId?: string
  timeoutMs?: number
}

export interface DevToken {
  token: string
  /** Epoch ms. */
  expiresAt: number
}

export async function requestDevToken (options: DevTokenOptions): Promise<DevToken> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: options.clientId ?? DEV_CLIENT_ID,
    // Entra ID wants a secret or a certificate; dev-vault ignores it.
    client_secret: 'not-checked',
    scope: `${options.audience}/.default`,
    roles: options.roles.join(' ')
  }).toString()
  const started = Date.now()
  const { status, body } = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = request(options.tokenEndpoint, {
      method: 'POST',
      ca: options.ca,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) },
      timeout: options.timeoutMs ?? 10_000
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new CodegateError('DEV_TOKEN_TIMEOUT', `no answer from ${options.tokenEndpoint}`)) })
    req.on('error', reject)
    req.end(form)
  })
  let answer: { access_token?: unknown, expires_in?: unknown, error_description?: unknown }
  try {
    answer = JSON.parse(body)
  } catch {
    answer = {}
  }
  if (status !== 200 || typeof answer.access_token !== 'string' || typeof answer.expires_in !== 'number') {
    const why = typeof answer.error_description === 'string' ? answer.error_description : `status ${status}`
    throw new CodegateError('DEV_TOKEN_REFUSED', `dev-vault gave no token: ${why}`)
  }
  return { token: answer.access_token, expiresAt: started + answer.expires_in * 1000 }
}

/**
 * Tokens by role set, asked for once and again when less than `renewBeforeMs`
 * is left, as a real client's token cache does. One request in flight per set.
 */
export class DevTokenSource {
  readonly #options: Omit<DevTokenOptions, 'roles'>
  readonly #renewBeforeMs: number
  readonly #tokens = new Map<string, Promise<DevToken>>()

  constructor (options: Omit<DevTokenOptions, 'roles'>, renewBeforeMs = 5 * 60_000) {
    this.#options = options
    this.#renewBeforeMs = renewBeforeMs
  }

  async get (...roles: string[]): Promise<string> {
    const key = [...roles].sort().join(' ')
    const cached = this.#tokens.get(key)
    if (cached !== undefined) {
      const token = await cached.catch(() => undefined)
      if (token !== undefined && token.expiresAt - Date.now() > this.#renewBeforeMs) return token.token
    }
    const pending = requestDevToken({ ...this.#options, roles })
    this.#tokens.set(key, pending)
    try {
      return (await pending).token
    } catch (err) {
      if (this.#tokens.get(key) === pending) this.#tokens.delete(key)
      throw err
    }
  }
}
