/** Version 1 of the public API, under /api/v1. */
import type { FastifyPluginAsync } from 'fastify'
import getcode from './getcode.js'
import signin from './signin.js'

const v1: FastifyPluginAsync = async (fastify) => {
  // JSON only: a text/plain body gets 415, not a schema error about strings.
  fastify.removeContentTypeParser('text/plain')
  await fastify.register(getcode)
  await fastify.register(signin)
}

export default v1
