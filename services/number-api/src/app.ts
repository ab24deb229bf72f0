/**
 * Stand-in for the third-party "RandomNumber" Azure Function: the same route,
 * the same function-key check and the same answer, so the api can be run and
 * tested end to end without the real service.
 */
import { randomInt } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { NumberApiConfig } from './config.js'
import { loggerOptions } from '@codegate/shared/logger'
import { createKeyCheck } from './function-keys.js'

export const ROUTE = '/api/RandomNumber'
const ALLOWED = ['GET', 'POST']

export interface NumberApiOptions {
  /** Fastify logger setting (false in tests); defaults to the shared pino options, redaction included, at config.logLevel. */
  logger?: FastifyServerOptions['logger']
}

/** Where Azure Functions takes a function key from: the header first, else `?code=`. */
function presentedKey (request: FastifyRequest): { key: string | undefined, source: 'header' | 'query' | 'none' } {
  const header = request.headers['x-functions-key']
  if (typeof header === 'string') return { key: header, source: 'header' }
  const code = (request.query as Record<string, unknown> | undefined)?.code
  if (typeof code === 'string') return { key: code, source: 'query' }
  return { key: undefined, source: 'none' }
}

export function buildNumberApi (config: NumberApiConfig, opts: NumberApiOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: opts.logger ?? loggerOptions('number-api', config.logLevel),
    // Azure Functions routes are case-insensitive: /api/randomnumber works there too.
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true }
  })

  const keyIsValid = createKeyCheck(config.keys)

  // The function ignores its body. Accept any content type, as Azure Functions
  // does, instead of answering 415 or 400 to a POST the real service would take.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => { done(null, undefined) })

  // Runs before the body is read, so an unauthenticated caller cannot make us read one.
  async function requireKey (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { key, source } = presentedKey(request)
    if (keyIsValid(key)) return
    request.log.info({ keySource: source }, 'function key missing or not accepted')
    await reply.code(401).send({ error: 'unauthorized', message: 'A valid function key is required in the x-functions-key header or the code query parameter.' })
  }

  app.route({
    method: ALLOWED,
    url: ROUTE,
    // HEAD is not a method the function accepts: it gets the 405 below.
    exposeHeadRoute: false,
    onRequest: requireKey,
    handler: async () => ({ value: randomInt(1, 1001) })
  })

  app.route({
    method: app.supportedMethods.filter((m) => !ALLOWED.includes(m)),
    url: ROUTE,
    // Answered before the body is parsed, so a PUT with any payload gets 405, not 415.
    onRequest: async (_request, reply) => {
      await reply.code(405).header('allow', ALLOWED.join(', ')).send({ error: 'method_not_allowed', message: `Use ${ALLOWED.join(' or ')}.` })
    },
    handler: async () => undefined
  })

  app.get('/healthz', async () => ({ status: 'ok' }))

  // Fastify's default 404 logs and echoes the whole URL, query included, and a
  // mistyped path may still carry ?code=<key>.
  app.setNotFoundHandler(async (request, reply) => {
    await reply.code(404).send({ error: 'not_found', message: `No route ${request.method} ${request.url.replace(/\?.*$/s, '')}` })
  })

  return app
}
