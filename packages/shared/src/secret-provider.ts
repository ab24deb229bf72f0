/**
 * The third-party API key, read from Key Vault once and cached. When the
 * third party answers 401 the caller asks for a refresh: the key is read again
 * (once, however many requests saw the 401), so a key rotated in the vault is
 * picked up without a restart.
 */
import type { SecretClient } from '@azure/keyvault-secrets'
import { CodegateError } from './errors.js'

export class SecretUnavailableError extends CodegateError {
  constructor (name: string, options?: ErrorOptions) {
    super('SECRET_UNAVAILABLE', `could not read secret "${name}" from Key Vault`, options)
  }
}

export class SecretProvider {
  #value: string | undefined
  #pending: Promise<string> | undefined

  constructor (private readonly client: SecretClient, readonly name: string) {}

  get loaded (): boolean {
    return this.#value !== undefined
  }

  /** The cached key, read from the vault on first use. */
  async get (): Promise<string> {
    return this.#value ?? await this.#read()
  }

  /**
   * Reads the key again unless someone already replaced `rejected` with a
   * newer value. Returns the key to retry with.
   */
  async refresh (rejected: string): Promise<string> {
    if (this.#value !== undefined && this.#value !== rejected) return this.#value
    return await this.#read()
  }

  #read (): Promise<string> {
    // Single flight: concurrent callers share one vault read.
    this.#pending ??= (async () => {
      try {
        const secret = await this.client.getSecret(this.name)
        if (secret.value === undefined || secret.value === '') throw new Error('the secret has no value')
        this.#value = secret.value
        return secret.value
      } catch (err) {
        throw new SecretUnavailableError(this.name, { cause: err })
      } finally {
        this.#pending = undefined
      }
    })()
    return this.#pending
  }
}
