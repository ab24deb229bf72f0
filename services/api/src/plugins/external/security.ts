/**
 * Security headers and per-client rate limits.
 *
 * Rate limits are opt-in per route (`config: { rateLimit: {} }`, which takes
 * the max and window set here, counted per route): getcode and signin have
 * them, probes and docs do not. These request counters live in memory,
 * so this limit is per api instance; the failed sign-in limits that bound
 * guessing are shared (limits.ts).
 */
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { IPV6_PREFIX } from '../../client-address.js'
import { HttpError } from '../../errors.js'

export default fp(async (fastify) => {
  await fastify.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      directives: {
        // Served over plain http locally (and behind TLS-terminating ingress in
        // Azure); forcing https subresources would break /docs on http.
        upgradeInsecureRequests: null
      }
    }
  })

  await fastify.register(rateLimit, {
    global: false,
    max: fastify.config.rateLimitMax,
    timeWindow: fastify.config.rateLimitWindowMs,
    // The default key: request.ip (which honours X-Forwarded-For only from the
    // proxies in TRUST_PROXY), IPv4-mapped addresses as IPv4, IPv6 by /64.
    ipv6Subnet: IPV6_PREFIX,
    onExceeded: (request) => {
      if (request.routeOptions.url === '/api/v1/signin') fastify.metrics.signIn('rate_limited')
    },
    errorResponseBuilder: (_request, context) => new HttpError(
      context.statusCode,
      'rate_limited',
      `Too many requests; try again in ${context.after}.`
    )
  })
}, { name: 'security', fastify: '5.x', dependencies: ['config', 'metrics'] })
