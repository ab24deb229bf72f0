/**
 * Who the processes are to Azure. In Azure: DefaultAzureCredential, which finds
 * the managed identity (set AZURE_CLIENT_ID for a user-assigned one); on a
 * laptop it falls back to `az login`. Locally with the emulators, Storage uses
 * a connection string and dev-vault takes any bearer token, so a fixed token
 * stands in for Entra ID.
 */
import type { AccessToken, TokenCredential } from '@azure/core-auth'
import { DefaultAzureCredential } from '@azure/identity'
import type { CredentialConfig } from './config.js'

/** A token only dev-vault accepts. Never used against real Azure. */
export class DevTokenCredential implements TokenCredential {
  async getToken (): Promise<AccessToken> {
    return { token: 'codegate-dev-token', expiresOnTimestamp: Date.now() + 3600_000 }
  }
}

export function createCredential (config: CredentialConfig): TokenCredential {
  return config.credential === 'dev' ? new DevTokenCredential() : new DefaultAzureCredential()
}
