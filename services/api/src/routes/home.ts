/** A short page that says what this is and links the endpoints. */
import type { FastifyPluginAsync } from 'fastify'

const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>codegate</title></head>
<body>
<h1>codegate</h1>
<p>Two-factor sign-in codes.</p>
<ul>
<li>GET /api/v1/getcode: issues a new code on every request, valid for a few minutes (<code>?subject=</code> ties it to a user); not linked here, so that following links never issues one</li>
<li>POST /api/v1/signin with <code>{"code": "…"}</code>: uses a code once</li>
<li>Both need <code>Authorization: Bearer &lt;token&gt;</code>, an Entra ID access token for this api with the app role
for the call, unless the api runs with AUTH_MODE=none</li>
<li><a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a>: probes</li>
<li><a href="/docs">/docs</a>: OpenAPI documentation</li>
</ul>
</body>
</html>
`

const home: FastifyPluginAsync = async (fastify) => {
  fastify.get('/', {
    schema: {
      summary: 'Home page linking the endpoints',
      produces: ['text/html'],
      response: { 200: { type: 'string', description: 'HTML' } }
    }
  }, async (_request, reply) => {
    return await reply.type('text/html; charset=utf-8').send(page)
  })
}

export default home
