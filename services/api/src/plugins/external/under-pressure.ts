/**
 * Load shedding with @fastify/under-pressure: while the event loop is late,
 * too busy, or the heap too full (OVERLOAD_* / PRESSURE_* in config), the
 * routes in `routes` (getcode, signin) answer 503 `overloaded` with
 * Retry-After before any work is done, so nothing is queued for them. Every
 * other route is served as usual: /healthz stays 200 (the process is alive,
 * a restart would not help) and /readyz reports the pressure as a failed
 * check, so the platform stops sending traffic until it passes.
 */
import { getHeapStatistics } from 'node:v8'
import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import { overloadedMessage } from '../../errors.js'
import type { ShedRoute } from '../../metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Why the api is shedding load now (the first limit over), or undefined. */
    pressure: () => string | undefined
  }
}

export interface UnderPressureOptions {
  /** Route URLs (as registered, prefix included) that are shed under pressure, with their name in the shed counter. */
  routes: Record<string, ShedRoute>
}

export default fp<UnderPressureOptions>(async (fastify, opts) => {
  const limits = fastify.config.overload
  const shed = new Map(Object.entries(opts.routes))
  const retryAfter = String(limits.retryAfterSeconds)
  const answer = { error: 'overloaded', message: overloadedMessage(limits.retryAfterSeconds) }
  // Relative to the heap limit, so the same setting fits the containers' --max-old-space-size and Node's default.
  const maxHeapUsedBytes = Math.ceil(getHeapStatistics().heap_size_limit * limits.maxHeapUsedPercent / 100)

  await fastify.register(underPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    maxHeapUsedBytes,
    maxEventLoopUtilization: limits.maxEventLoopUtilization,
    // The plugin's default, 'cumulative', is the utilization since start, which a long-lived process never leaves.
    eventLoopUtilizationMode: 'interval',
    sampleInterval: limits.sampleIntervalMs,
    retryAfter: limits.retryAfterSeconds,
    pressureHandler: (request, reply) => {
      // Probes and docs go on; the plugin's next() then runs the route as usual.
      const route = request.routeOptions.url === undefined ? undefined : shed.get(request.routeOptions.url)
      if (route === undefined) return
      fastify.metrics.shed(route, 'pressure')
      // Sent here, in onRequest: the rate limiter, body parsing and the handler never run.
      void reply.code(503).header('retry-after', retryAfter).header('cache-control', 'no-store').send(answer)
    }
  })

  fastify.decorate('pressure', (): string | undefined => {
    const { eventLoopDelay, heapUsed, eventLoopUtilized } = fastify.memoryUsage()
    // The same order as the plugin's own check.
    if (limits.maxEventLoopDelayMs > 0 && eventLoopDelay > limits.maxEventLoopDelayMs) {
      return `event loop delay ${Number.isFinite(eventLoopDelay) ? Math.round(eventLoopDelay) : 'over'} ms, limit ${limits.maxEventLoopDelayMs} ms`
    }
    if (maxHeapUsedBytes > 0 && heapUsed > maxHeapUsedBytes) {
      return `heap used ${mb(heapUsed)} MB, limit ${mb(maxHeapUsedBytes)} MB (${limits.maxHeapUsedPercent} % of ${mb(getHeapStatistics().heap_size_limit)} MB)`
    }
    if (limits.maxEventLoopUtilization > 0 && eventLoopUtilized > limits.maxEventLoopUtilization) {
      return `event loop utilization ${eventLoopUtilized.toFixed(2)}, limit ${limits.maxEventLoopUtilization}`
    }
    return undefined
  })

  // One line when shedding starts and one when it stops, not one per shed request.
  let shedding: string | undefined
  const watch = setInterval(() => {
    const now = fastify.pressure()
    if ((now === undefined) === (shedding === undefined)) return
    if (now !== undefined) fastify.log.warn({ event: 'overload.started', reason: now }, 'shedding load')
    else fastify.log.info({ event: 'overload.ended', was: shedding }, 'no longer shedding load')
    shedding = now
  }, limits.sampleIntervalMs)
  watch.unref()
  fastify.addHook('onClose', async () => { clearInterval(watch) })
}, { name: 'under-pressure', fastify: '5.x', dependencies: ['config', 'metrics'] })

const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024 * 10) / 10
