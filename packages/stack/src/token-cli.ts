/**
 * `npm run -s token -- --role Codes.Issue`: an access token for the api of
 * `npm start`, from its dev-vault's token endpoint (the local stand-in for
 * `az account get-access-token --resource <app id URI>`).
 */
import { join } from 'node:path'
import { runTokenCli } from '@codegate/dev-vault/token-cli'
import { ConfigError } from '@codegate/shared/errors'
import { loadLauncherConfig } from './cli-config.js'
import { repositoryRoot } from './local-system.js'

try {
  const config = loadLauncherConfig(process.env, repositoryRoot())
  process.exitCode = await runTokenCli(process.argv.slice(2), {
    vaultUrl: `https://127.0.0.1:${config.ports.vault}`,
    caFile: join(config.dataDir, 'dev-vault', 'cert.pem')
  })
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  process.stderr.write(`token: ${err.message}\n`)
  process.exitCode = 1
}
