/** OpenAPI document built from the route schemas, and swagger-ui at /docs. */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

export default fp(async (fastify) => {
  await fastify.register(swagger, {
    // Shared schemas appear under their $id (HttpError), not def-0.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'codegate api',
        description: 'Two-factor sign-in codes: get a code, then sign in with it once before it expires.',
        version: '0.1.0'
      },
      tags: [
        { name: 'codes', description: 'Issue and redeem sign-in codes' },
        { name: 'health', description: 'Probes' }
      ]
    }
  })
  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    // swagger-ui's own CSP for its static files: it overrides helmet's on /docs.
    staticCSP: true,
    // As in security.ts: /docs must load over plain http too.
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
    uiConfig: { validatorUrl: null }
  })
}, { name: 'swagger', fastify: '5.x' })
