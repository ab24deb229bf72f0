/**
 * The api as a plugin (`codegateApi`) and a builder (`buildApp`) that wraps it
 * in a Fastify instance with codegate's logger, limits and validation rules.
 *
 * Load order: plugins/external (config, storage, vault, metrics, security, load
 * shedding, caller authentication, docs), then
 * plugins/app (domain services), then routes.
 */
import type { TokenCredential } from '@azure/core-auth'
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { ApiConfig } from './config.js'
import { createCredential } from '@codegate/shared/credentials'
import { loggerOptions } from '@codegate/shared/logger'
import { HttpError, toHttpError } from './errors.js'
import { maskCodesIn } from './log-safety.js'
import { errorAnswer } from './operations.js'
import codeIssuer from './plugins/app/code-issuer.js'
import readiness from './plugins/app/readiness.js'
import signIn from './plugins/app/sign-in.js'
import callerAuth, { type CallerAuthPluginOptions } from './plugins/external/caller-auth.js'
import configPlugin from './plugins/external/config.js'
import metrics from './plugins/external/metrics.js'
import security from './plugins/external/security.js'
import storage from './plugins/external/storage.js'
import swagger from './plugins/external/swagger.js'
import underPressure from './plugins/external/under-pressure.js'
import vault from './plugins/external/vault.js'
import routes from './routes/index.js'
import { errorSchema } from './schemas.js'

export interface AppOptions {
  /** The clock for issued codes and sign-in checks; defaults to the system clock. */
  now?: () => Date
  /** Entra ID credential for Storage (without a connection string) and Key Vault; defaults to createCredential(config). */
  credential?: TokenCredential
  /** Where log lines go (a pino destination); defaults to stdout. */
  logStream?: { write: (line: string) => void }
  /** Background retry of the key while the vault is down: first delay and cap. */
  keyRetryMs?: number
  keyRetryMaxMs?: number
  /** How long start waits for the first vault read before going on without the key. */
  keyStartWaitMs?: number
  /** Key-set caching and start wait of caller authentication (AUTH_MODE=entra). */
  callerAuth?: CallerAuthPluginOptions
  /** A span per request (@fastify/otel); on when the process started telemetry (main.ts). */
  tracing?: boolean
}

/** Largest request body anywhere; signin allows less. */
export const BODY_LIMIT = 16 * 1024

/** Fastify's own errors that are the client's fault, as our answers. */
function clientError (err: FastifyError): HttpError | undefined {
  if (err.validation !== undefined) return new HttpError(400, 'invalid_request', err.message)
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'payload_too_large', 'The request body is too large.')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, 'unsupported_media_type', 'Send the body as application/json.')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError(400, 'invalid_json', 'The body is not valid JSON.')
  }
  // Anything else Fastify rejects with a 4xx (bad Content-Length, …). Its message
  // may quote the request, so it is not echoed or logged.
  const status = err.statusCode
  if (status !== undefined && status >= 400 && status < 500) return new HttpError(status, 'bad_request', 'The request is malformed.')
  return undefined
}

export const codegateApi: FastifyPluginAsync<{ config: ApiConfig } & AppOptions> = async (fastify, opts) => {
  const credential = opts.credential ?? createCredential(opts.config)

  await fastify.register(configPlugin, { config: opts.config, now: opts.now ?? (() => new Date()) })
  await fastify.register(storage, { credential })
  await fastify.register(vault, {
    credential,
    ...(opts.keyRetryMs !== undefined ? { keyRetryMs: opts.keyRetryMs } : {}),
    ...(opts.keyRetryMaxMs !== undefined ? { keyRetryMaxMs: opts.keyRetryMaxMs } : {}),
    ...(opts.keyStartWaitMs !== undefined ? { keyStartWaitMs: opts.keyStartWaitMs } : {})
  })
  await fastify.register(metrics)
  await fastify.register(security)
  // After helmet (its headers go on the 503s too), before the rate limiter's route hooks and the routes.
  await fastify.register(underPressure, { routes: { '/api/v1/getcode': 'getcode', '/api/v1/signin': 'signin' } })
  // After load shedding: a request that is shed costs no token check.
  await fastify.register(callerAuth, opts.callerAuth ?? {})
  await fastify.register(swagger)

  await fastify.register(codeIssuer)
  await fastify.register(signIn, { credential })
  await fastify.register(readiness)

  fastify.addSchema(errorSchema)

  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    // A domain error (logged with its cause), else Fastify's client errors; the rest is a 500.
    const answer = errorAnswer(toHttpError(err) !== undefined ? err : clientError(err) ?? err, request.log)
    return reply.code(answer.status).headers(answer.headers).send(answer.body)
  })

  fastify.setNotFoundHandler(async (request, reply) => {
    // Path only: a query string may carry anything.
    return await reply.code(404).send({ error: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0] ?? ''}` })
  })

  await fastify.register(routes)
}

/**
 * The shared logger settings, with code-shaped path segments masked too: a
 * client that puts a code in the path (/api/v1/signin/ojE-161-pTv) must not
 * get it into the request log.
 */
function apiLoggerOptions (level: string): ReturnType<typeof loggerOptions> {
  const options = loggerOptions('api', level)
  const base = options.serializers?.req
  return {
    ...options,
    serializers: {
      ...options.serializers,
      req (req: { method: string, url: string, id?: string }) {
        const out = (base !== undefined ? base(req) : req) as { url?: unknown }
        return typeof out.url === 'string' ? { ...out, url: maskCodesIn(out.url) } : out
      }
    }
  }
}

export function buildApp (config: ApiConfig, options: AppOptions = {}): FastifyInstance {
  const { logStream, tracing, ...pluginOptions } = options
  const logger = apiLoggerOptions(config.logLevel)
  const app = Fastify({
    logger: logStream !== undefined ? { ...logger, stream: logStream } : logger,
    // A list of proxy addresses, never `true` or a hop count: with `true` the
    // client picks its own address by prepending to X-Forwarded-For, and
    // Fastify 5 treats a hop count as trusting nothing.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    // Off in Azure (LOG_REQUESTS=false): code events are logged by the routes
    // themselves. Through a LogController: the top-level disableRequestLogging
    // option is deprecated (FSTDEP023) and goes in Fastify 6.
    logController: new LogController({ disableRequestLogging: !config.logRequests }),
    bodyLimit: BODY_LIMIT,
    // A client must send its request within this; slow senders do not hold sockets.
    requestTimeout: 30_000,
    ajv: {
      customOptions: {
        // Reject, never repair: an unknown property or a number for a string is a 400.
        removeAdditional: false,
        coerceTypes: false
      }
    }
  })
  // First, so every request's hooks and handler run inside its span.
  // Loaded only when on (tracing.ts pulls in the instrumentations); fp so its hooks reach every route.
  if (tracing === true) void app.register(fp(async (instance) => { await instance.register((await import('./tracing.js')).fastifyTracing()) }, { name: 'tracing' }))
  // Not encapsulated, so its decorators (keyLoader, codeIssuer, …) are on the instance, as in fastify/demo's server.ts.
  void app.register(fp(codegateApi, { name: 'codegate-api' }), { config, ...pluginOptions })
  return app
}
