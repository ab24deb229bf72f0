/** Process entry of dev-vault: config from the environment, listen over HTTPS, close on SIGINT/SIGTERM (the shared process kit). */
import { createLogger } from '@codegate/shared/logger'
import { configOrExit, runService } from '@codegate/shared/process'
import { startDevVault, type DevVault } from './app.js'
import { loadConfig } from './config.js'

const config = configOrExit('dev-vault', () => loadConfig(process.env))

// The certificate and the token issuer are made before the app exists: the kit logs through its own logger until then.
let vault: DevVault | undefined
await runService('dev-vault', {
  log: createLogger('dev-vault', config.logLevel),
  start: async () => {
    vault = await startDevVault(config)
    vault.app.log.info({ url: vault.url, caFile: vault.certFile, issuer: vault.issuer.issuer, tokenEndpoint: vault.issuer.tokenEndpoint },
      'dev-vault ready: point KEY_VAULT_URL at url, AUTH_ISSUER at issuer, and KEY_VAULT_CA_FILE and AUTH_CA_FILE at caFile')
  },
  close: async () => { await vault?.close() }
})
