/**
 * The token issuer's HTTP face, laid out as Entra ID's for one tenant:
 * discovery, the key set and a client-credentials token endpoint.
 * https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
 *
 * Dev extension: the form field `roles` (space-separated) names the app roles
 * the token carries, where Entra ID would put the roles assigned to the
 * client. Anyone who can reach dev-vault gets any role: development only.
 */
import type { FastifyPluginAsync } from 'fastify'
import { issuerPaths, type DevTokenIssuer } from './token-issuer.js'

/** What the api accepts as a role name; anything else is refused here too. */
const ROLE = /^[A-Za-z0-9._:-]{1,120}$/
const CLIENT_ID = /^[\x21-\x7e]{1,128}$/
const DEFAULT_SCOPE = '/.default'

interface OAuthError { error: string, error_description: string }
const oauthError = (error: string, description: string): OAuthError => ({ error, error_description: description })

/** Reads a token request; an OAuth error for anything the flow would refuse. */
export function parseTokenRequest (form: Record<string, string | undefined>): { clientId: string, audience: string, roles: string[] } | OAuthError {
  if (form.grant_type !== 'client_credentials') return oauthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported.')
  const clientId = form.client_id
  if (clientId === undefined || !CLIENT_ID.test(clientId)) return oauthError('invalid_request', 'client_id is required (1 to 128 printable characters).')
  const scope = form.scope ?? ''
  // The client-credentials flow takes exactly one scope, <resource>/.default.
  if (!scope.endsWith(DEFAULT_SCOPE) || scope.length === DEFAULT_SCOPE.length || scope.length > 300 || /\s/.test(scope)) {
    return oauthError('invalid_scope', 'scope must be one resource followed by /.default, e.g. api://codegate/.default.')
  }
  const roles = (form.roles ?? '').split(' ').filter((r) => r !== '')
  const bad = roles.find((r) => !ROLE.test(r))
  if (bad !== undefined || roles.length > 20) return oauthError('invalid_request', 'roles must be up to 20 space-separated names of A-Z a-z 0-9 . _ : -.')
  return { clientId, audience: scope.slice(0, -DEFAULT_SCOPE.length), roles }
}

export const issuerRoutes: FastifyPluginAsync<{ issuer: DevTokenIssuer }> = async (app, { issuer }) => {
  const paths = issuerPaths(issuer.tenant)

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })

  app.get(paths.discovery, async () => issuer.discovery())
  app.get(paths.jwks, async () => issuer.jwks())

  app.post<{ Body: Record<string, string | undefined> }>(paths.token, async (request, reply) => {
    if (request.headers['content-type']?.startsWith('application/x-www-form-urlencoded') !== true) {
      return await reply.code(400).send(oauthError('invalid_request', 'Send the token request as application/x-www-form-urlencoded.'))
    }
    const parsed = parseTokenRequest(request.body)
    if ('error' in parsed) return await reply.code(400).send(parsed)
    const { token, expiresIn } = await issuer.issue(parsed)
    // The token itself is never logged.
    request.log.info({ clientId: parsed.clientId, audience: parsed.audience, roles: parsed.roles, kid: issuer.currentKid }, 'token issued')
    void reply.header('cache-control', 'no-store')
    return { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: token }
  })
}

/** Paths that need no bearer token (they are how a caller gets one). */
export function isIssuerPath (url: string | undefined, tenant: string): boolean {
  if (url === undefined) return false
  const paths = issuerPaths(tenant)
  return url === paths.discovery || url === paths.jwks || url === paths.token
}
