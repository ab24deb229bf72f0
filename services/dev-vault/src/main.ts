/** Process entry of dev-vault: config from the environment, listen over HTTPS, close on SIGINT/SIGTERM. */
import closeWithGrace from 'close-with-grace'
import { loadDevVaultConfig } from '@codegate/shared/config'
import { configOrExit } from '@codegate/shared/process'
import { startDevVault, type DevVault } from './app.js'

const config = configOrExit('dev-vault', () => loadDevVaultConfig())

let vault: DevVault
try {
  vault = await startDevVault(config)
} catch (err) {
  process.stderr.write(`dev-vault could not start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}

closeWithGrace({ delay: 10_000, logger: vault.app.log }, async ({ signal, err }) => {
  if (err !== undefined) vault.app.log.error({ err }, 'closing after an unexpected error')
  else vault.app.log.info({ signal }, 'closing')
  await vault.close()
})

vault.app.log.info({ url: vault.url, caFile: vault.certFile, issuer: vault.issuer.issuer, tokenEndpoint: vault.issuer.tokenEndpoint },
  'dev-vault ready: point KEY_VAULT_URL at url, AUTH_ISSUER at issuer, and KEY_VAULT_CA_FILE and AUTH_CA_FILE at caFile')
