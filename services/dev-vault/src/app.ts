/**
 * dev-vault: the Azure Key Vault secrets data plane for development and
 * tests, so the real SecretClient runs unchanged against a local endpoint.
 *
 * It is NOT a vault: it accepts any bearer token, keeps secrets in memory and
 * must never hold a real secret. Production uses Azure Key Vault.
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { isIP } from 'node:net'
import Fastify, { type FastifyHttpsOptions, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { DevVaultConfig } from './config.js'
import { CodegateError } from '@codegate/shared/errors'
import { loggerOptions } from '@codegate/shared/logger'
import { certificateCovers, ensureCertificate, type TlsMaterial } from './certificate.js'
import { isIssuerPath, issuerRoutes } from './issuer-routes.js'
import { SECRET_NAME_PATTERN, SecretStore } from './secret-store.js'
import { DEV_VAULT_TENANT_ID, DevTokenIssuer } from './token-issuer.js'
import { badName, deletedSecretBundle, keyVaultError, page, parseSetSecretBody, secretBundle, secretItem, secretNotFound } from './wire-format.js'

export type DevVaultApp = FastifyInstance<Server, IncomingMessage, ServerResponse>

/** Tenant named in the challenge (the SDK passes it to its credential, which dev-vault never checks) and in the issuer's paths. */
export { DEV_VAULT_TENANT_ID }

/** What Key Vault answers to a request without a token (challenge-based auth). */
export const CHALLENGE = `Bearer authorization="https://login.microsoftonline.com/${DEV_VAULT_TENANT_ID}", resource="https://vault.azure.net"`

export interface DevVaultOptions {
  /** Fastify logger setting (false in tests); defaults to the shared pino options at config.logLevel. */
  logger?: FastifyHttpsOptions<Server>['logger']
  /** The store to serve; a fresh one (seeded from config.seed) by default. */
  store?: SecretStore
}

export interface DevVault {
  app: DevVaultApp
  /** e.g. https://127.0.0.1:8443, the vault URL to give SecretClient. */
  url: string
  /** The certificate clients must trust: `tlsOptions: { ca: caPem }`. */
  caPem: string
  /** Where caPem is kept (KEY_VAULT_CA_FILE for other processes). */
  certFile: string
  store: SecretStore
  /** The development token issuer (AUTH_ISSUER is `issuer.issuer`). */
  issuer: DevTokenIssuer
  close: () => Promise<void>
}

interface NameParams { name: string }
interface VersionParams { name: string, version: string }

const hasBearerToken = (authorization: string | undefined): boolean =>
  authorization !== undefined && /^Bearer\s+\S/i.test(authorization)

/** The vault URL as the client addressed it, so ids round-trip through whatever name it used. */
function vaultUrlOf (request: FastifyRequest): string {
  if (request.host !== '') return `https://${request.host}`
  const { address, port } = request.socket.address() as AddressInfo
  return `https://${isIP(address) === 6 ? `[${address}]` : address}:${port}`
}

/** Builds the HTTPS app, making or reusing the certificate and signing keys in config.certDir; does not listen. */
export async function buildDevVault (config: DevVaultConfig, opts: DevVaultOptions = {}): Promise<DevVaultApp> {
  const { issuer, created } = await DevTokenIssuer.open(config.certDir, DEV_VAULT_TENANT_ID)
  issuer.setBaseUrl(config.publicUrl ?? `https://${clientHost(config.host)}:${config.port}`)
  return buildWithCertificate(config, opts, await ensureCertificate(config.certDir, config.hostnames), issuer, created)
}

function buildWithCertificate (config: DevVaultConfig, opts: DevVaultOptions, tls: TlsMaterial, issuer: DevTokenIssuer, keyCreated: boolean): DevVaultApp {
  const app: DevVaultApp = Fastify({
    https: { key: tls.key, cert: tls.cert },
    logger: opts.logger ?? loggerOptions('dev-vault', config.logLevel),
    // The SDK asks for /secrets/<name>/ (trailing slash) when no version is given;
    // Key Vault allows 127-character names, past find-my-way's default of 100.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 }
  })
  app.log.info({ certFile: tls.certFile, created: tls.created, hostnames: config.hostnames }, tls.created ? 'created a self-signed certificate' : 'reusing the certificate')
  app.log.warn('dev-vault accepts ANY bearer token and keeps secrets in memory: a development tool, never a home for real secrets')
  app.log.info({ kid: issuer.currentKid, created: keyCreated }, keyCreated ? 'created a token-signing key' : 'reusing the token-signing keys')
  app.log.warn('dev-vault issues tokens with ANY role to anyone who asks: never make a deployed api trust its issuer')

  const store = opts.store ?? new SecretStore()
  for (const [name, value] of Object.entries(config.seed)) {
    if (!SECRET_NAME_PATTERN.test(name)) throw new CodegateError('DEV_VAULT_BAD_SEED', `cannot seed secret "${name}": names are 1 to 127 characters of 0-9, a-z, A-Z and -`)
    store.set(name, { value })
  }
  if (Object.keys(config.seed).length > 0) app.log.info({ names: Object.keys(config.seed) }, 'seeded secrets')
  // The code hash key (CODE_HASH_SECRET_NAME): given, or random at each start. A
  // new one makes the codes still live from before unusable, as a rotation would
  // after its grace period.
  const hashSeed = config.codeHashSeed ?? { name: 'code-hash-key' }
  if (store.get(hashSeed.name) === undefined) {
    store.set(hashSeed.name, { value: hashSeed.value ?? randomBytes(32).toString('base64') })
    app.log.info({ name: hashSeed.name, random: hashSeed.value === undefined }, 'seeded the code hash key')
  }

  // Challenge auth as Key Vault does it: the SDK first sends the request without
  // a token (and without its body), expects 401 + WWW-Authenticate, then retries
  // with a token for the named resource. onRequest runs before the body is read.
  // Any bearer token passes: there is nothing here to protect.
  app.addHook('onRequest', async (request, reply) => {
    // The issuer's routes are how a caller gets a token, so they need none.
    if (request.routeOptions.url === '/healthz' || isIssuerPath(request.routeOptions.url, issuer.tenant) || hasBearerToken(request.headers.authorization)) return
    await reply.code(401).header('www-authenticate', CHALLENGE)
      .send(keyVaultError('Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'))
  })

  /** Answers 400 for a name Key Vault would refuse; true when the handler should stop. */
  async function rejectBadName (name: string, reply: FastifyReply): Promise<boolean> {
    if (SECRET_NAME_PATTERN.test(name)) return false
    await reply.code(400).send(badName(name))
    return true
  }

  app.get('/healthz', async () => ({ status: 'ok' }))

  void app.register(issuerRoutes, { issuer })

  app.get('/secrets', async (request) =>
    page(store.list().map((s) => secretItem(vaultUrlOf(request), s, false))))

  app.get<{ Params: NameParams }>('/secrets/:name/versions', async (request, reply) => {
    const { name } = request.params
    if (await rejectBadName(name, reply)) return reply
    const versions = store.versions(name)
    if (versions === undefined) return await reply.code(404).send(secretNotFound(name))
    return page(versions.map((s) => secretItem(vaultUrlOf(request), s, true)))
  })

  async function getSecret (request: FastifyRequest, reply: FastifyReply, name: string, version?: string): Promise<unknown> {
    if (await rejectBadName(name, reply)) return reply
    const secret = store.get(name, version)
    if (secret === undefined) return await reply.code(404).send(secretNotFound(version === undefined ? name : `${name}/${version}`))
    if (!secret.attributes.enabled) {
      return await reply.code(403).send(keyVaultError('Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled'))
    }
    return secretBundle(vaultUrlOf(request), secret)
  }

  app.get<{ Params: NameParams }>('/secrets/:name', async (request, reply) =>
    await getSecret(request, reply, request.params.name))

  app.get<{ Params: VersionParams }>('/secrets/:name/:version', async (request, reply) =>
    await getSecret(request, reply, request.params.name, request.params.version))

  app.put<{ Params: NameParams }>('/secrets/:name', async (request, reply) => {
    const { name } = request.params
    if (await rejectBadName(name, reply)) return reply
    const input = parseSetSecretBody(request.body)
    if (typeof input === 'string') return await reply.code(400).send(keyVaultError('BadParameter', input))
    const secret = store.set(name, input)
    request.log.info({ name: secret.name, version: secret.version }, 'secret set')
    return secretBundle(vaultUrlOf(request), secret)
  })

  app.delete<{ Params: NameParams }>('/secrets/:name', async (request, reply) => {
    const { name } = request.params
    if (await rejectBadName(name, reply)) return reply
    const secret = store.delete(name)
    if (secret === undefined) return await reply.code(404).send(secretNotFound(name))
    request.log.info({ name: secret.name }, 'secret deleted')
    return deletedSecretBundle(vaultUrlOf(request), secret)
  })

  app.setNotFoundHandler(async (request, reply) => {
    await reply.code(404).send(keyVaultError('NotFound', `dev-vault serves only the secrets API and a token issuer; no route ${request.method} ${request.url.replace(/\?.*$/s, '')}`))
  })

  return app
}

/** The address clients use for a listening host: a wildcard means "this machine". */
function clientHost (host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1'
  return isIP(host) === 6 ? `[${host}]` : host
}

/** Builds and listens on config.host:config.port (0 picks a free port); `url` is where it answers. */
export async function startDevVault (config: DevVaultConfig, opts: DevVaultOptions = {}): Promise<DevVault> {
  const store = opts.store ?? new SecretStore()
  const tls = await ensureCertificate(config.certDir, config.hostnames)
  const { issuer, created } = await DevTokenIssuer.open(config.certDir, DEV_VAULT_TENANT_ID)
  const app = buildWithCertificate(config, { ...opts, store }, tls, issuer, created)
  await app.listen({ host: config.host, port: config.port })
  const { port } = app.server.address() as AddressInfo
  const host = clientHost(config.host)
  // Known only now when the port was 0.
  issuer.setBaseUrl(config.publicUrl ?? `https://${host}:${port}`)
  const bareHost = host.replace(/^\[|\]$/g, '')
  if (!certificateCovers(tls.cert, [bareHost])) {
    app.log.warn({ host: bareHost, hostnames: config.hostnames }, 'the certificate does not name the listening host: clients must use one of the hostnames')
  }
  return {
    app,
    url: `https://${host}:${port}`,
    caPem: tls.cert,
    certFile: tls.certFile,
    store,
    issuer,
    close: async () => { await app.close() }
  }
}
