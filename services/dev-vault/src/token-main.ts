/**
 * `node services/dev-vault/dist/token-main.js --role Codes.Issue`: a token from
 * the dev-vault this process's variables describe (PORT, DEV_VAULT_CERT_DIR),
 * e.g. inside its container: docker compose exec dev-vault node services/dev-vault/dist/token-main.js
 */
import { join } from 'node:path'
import { configOrExit } from '@codegate/shared/process'
import { loadConfig } from './config.js'
import { runTokenCli } from './token-cli.js'

const config = configOrExit('token', () => loadConfig(process.env))
process.exitCode = await runTokenCli(process.argv.slice(2), { vaultUrl: `https://127.0.0.1:${config.port}`, caFile: join(config.certDir, 'cert.pem') })
