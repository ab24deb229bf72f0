/** OpenAPI document built from the route schemas, and swagger-ui at /docs. */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { SECURITY_SCHEME } from './caller-auth.js'

export default fp(async (fastify) => {
  const { callerAuth } = fastify.config
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
      ...(callerAuth.mode === 'entra'
        ? {
            components: {
              securitySchemes: {
                [SECURITY_SCHEME]: {
                  type: 'http',
                  scheme: 'bearer',
                  bearerFormat: 'JWT',
                  description: `An Entra ID access token for this api (aud ${callerAuth.audiences.join(' or ')}, iss ${callerAuth.issuer}) ` +
                    `whose roles claim holds ${callerAuth.issueRole} (getcode) or ${callerAuth.verifyRole} (signin).`
                }
              }
            }
          }
        : {}),
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
}, { name: 'swagger', fastify: '5.x', dependencies: ['config'] })
