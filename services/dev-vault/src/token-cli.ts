/**
 * Prints an access token from dev-vault's token endpoint, for curl. Run by
 * `npm run token` (the local system's dev-vault) and token-main.js (inside
 * dev-vault's container).
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { requestDevToken } from './token-client.js'
import { DEV_API_AUDIENCE, DEV_CLIENT_ID, DEV_VAULT_TENANT_ID, issuerPaths } from './token-issuer.js'

export const TOKEN_CLI_USAGE = `usage: token [--role <app role>]... [--audience <aud>] [--client-id <id>]
  Prints an access token for the api from dev-vault's token endpoint.
  --role       an app role the token carries (repeat for several), e.g. Codes.Issue or Codes.Verify
  --audience   the api's AUTH_AUDIENCE (default ${DEV_API_AUDIENCE})
  --client-id  the calling app (default ${DEV_CLIENT_ID})`

export interface TokenTarget {
  /** dev-vault's base URL as seen from here, e.g. https://127.0.0.1:8443 */
  vaultUrl: string
  /** Its certificate (PEM file). */
  caFile: string
}

/** Runs the CLI; returns the exit code. */
export async function runTokenCli (argv: string[], target: TokenTarget, out = process.stdout, err = process.stderr): Promise<number> {
  let values: { role?: string[], audience?: string, 'client-id'?: string, help?: boolean }
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { role: { type: 'string', multiple: true }, audience: { type: 'string' }, 'client-id': { type: 'string' }, help: { type: 'boolean', short: 'h' } }
    }))
  } catch (e) {
    err.write(`${e instanceof Error ? e.message : String(e)}\n${TOKEN_CLI_USAGE}\n`)
    return 2
  }
  if (values.help === true) {
    out.write(`${TOKEN_CLI_USAGE}\n`)
    return 0
  }
  try {
    const { token } = await requestDevToken({
      tokenEndpoint: `${target.vaultUrl}${issuerPaths(DEV_VAULT_TENANT_ID).token}`,
      ca: await readFile(target.caFile),
      audience: values.audience ?? DEV_API_AUDIENCE,
      roles: values.role ?? [],
      clientId: values['client-id'] ?? DEV_CLIENT_ID
    })
    out.write(`${token}\n`)
    return 0
  } catch (e) {
    err.write(`could not get a token from ${target.vaultUrl} (is it running?): ${e instanceof Error ? e.message : String(e)}\n`)
    return 1
  }
}
