export { buildDevVault, startDevVault, CHALLENGE, DEV_VAULT_TENANT_ID, type DevVault, type DevVaultApp, type DevVaultOptions } from './app.js'
export { certificateFiles, ensureCertificate, readCaPem, type CertificateFiles, type TlsMaterial } from './certificate.js'
export { SecretStore, SECRET_NAME_PATTERN, type SetSecretInput, type StoredSecret, type SecretAttributes } from './secret-store.js'
