/**
 * Key Vault's JSON shapes for secrets (data plane), so the real SecretClient
 * reads dev-vault's answers unchanged.
 * https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret
 */
import type { SetSecretInput, StoredSecret } from './secret-store.js'

export interface KeyVaultErrorBody {
  error: { code: string, message: string, innererror?: { code: string } }
}

export function keyVaultError (code: string, message: string, inner?: string): KeyVaultErrorBody {
  return { error: { code, message, ...(inner !== undefined ? { innererror: { code: inner } } : {}) } }
}

export function secretNotFound (nameOrId: string): KeyVaultErrorBody {
  return keyVaultError('SecretNotFound', `A secret with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`)
}

export function badName (name: string): KeyVaultErrorBody {
  return keyVaultError('BadParameter', `The request URI contains an invalid name: ${name}. Secret names are 1 to 127 characters of 0-9, a-z, A-Z and -.`)
}

function common (secret: StoredSecret): Pick<StoredSecret, 'attributes' | 'contentType' | 'tags'> {
  return {
    attributes: secret.attributes,
    ...(secret.contentType !== undefined ? { contentType: secret.contentType } : {}),
    ...(secret.tags !== undefined ? { tags: secret.tags } : {})
  }
}

/** SecretBundle: one version, with its value. */
export function secretBundle (vaultUrl: string, secret: StoredSecret): object {
  return { value: secret.value, id: `${vaultUrl}/secrets/${secret.name}/${secret.version}`, ...common(secret) }
}

/** SecretItem of a list: no value; `versioned` for the versions list, else the id names the secret only. */
export function secretItem (vaultUrl: string, secret: StoredSecret, versioned: boolean): object {
  const id = `${vaultUrl}/secrets/${secret.name}${versioned ? `/${secret.version}` : ''}`
  return { id, ...common(secret) }
}

/**
 * DeletedSecretBundle without `recoveryId`: there is no soft delete here, and
 * without it the SDK's delete poller finishes at once instead of polling
 * /deletedsecrets.
 */
export function deletedSecretBundle (vaultUrl: string, secret: StoredSecret, now = Date.now()): object {
  return { id: `${vaultUrl}/secrets/${secret.name}/${secret.version}`, ...common(secret), deletedDate: Math.floor(now / 1000) }
}

/** Paged list, one page: dev-vault never splits, so nextLink is always null. */
export function page (items: object[]): { value: object[], nextLink: null } {
  return { value: items, nextLink: null }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const isOptional = (value: unknown, type: 'string' | 'boolean'): boolean => value === undefined || typeof value === type
const isOptionalSeconds = (value: unknown): boolean => value === undefined || Number.isInteger(value)

/** Reads a Set Secret body; returns a message for the caller when it is not one. */
export function parseSetSecretBody (body: unknown): SetSecretInput | string {
  if (!isRecord(body)) return 'The request body must be a JSON object with a string "value".'
  const { value, contentType, tags, attributes } = body
  if (typeof value !== 'string') return 'Property "value" is required and must be a string.'
  if (!isOptional(contentType, 'string')) return 'Property "contentType" must be a string.'
  if (tags !== undefined && !(isRecord(tags) && Object.values(tags).every((v) => typeof v === 'string'))) {
    return 'Property "tags" must be an object of string values.'
  }
  if (attributes !== undefined && !(isRecord(attributes) && isOptional(attributes.enabled, 'boolean') &&
      isOptionalSeconds(attributes.nbf) && isOptionalSeconds(attributes.exp))) {
    return 'Property "attributes" must be an object with optional "enabled" (boolean), "nbf" and "exp" (unix seconds).'
  }
  return {
    value,
    ...(contentType !== undefined ? { contentType: contentType as string } : {}),
    ...(tags !== undefined ? { tags: tags as Record<string, string> } : {}),
    ...(attributes !== undefined ? { attributes: attributes as SetSecretInput['attributes'] } : {})
  }
}
