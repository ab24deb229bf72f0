/**
 * The third-party key: a SecretProvider (cached, refreshed on 401) and the
 * loader that keeps trying while the vault is down (see key-loader.ts for why
 * the api starts anyway).
 */
import type { TokenCredential } from '@azure/core-auth'
import fp from 'fastify-plugin'
import { createSecretClient } from '@codegate/shared/clients'
import { createCredential } from '@codegate/shared/credentials'
import { SecretProvider } from '@codegate/shared/secret-provider'
import { KeyLoader } from '../../key-loader.js'

declare module 'fastify' {
  interface FastifyInstance {
    secrets: SecretProvider
    keyLoader: KeyLoader
  }
}

export interface VaultPluginOptions {
  credential?: TokenCredential
  keyRetryMs?: number
  keyRetryMaxMs?: number
  /** How long start waits for the first vault read before going on without the key. */
  keyStartWaitMs?: number
}

export default fp<VaultPluginOptions>(async (fastify, opts) => {
  const { config } = fastify
  const secrets = new SecretProvider(createSecretClient(config, opts.credential ?? createCredential(config)), config.secretName)
  const keyLoader = new KeyLoader({
    secrets,
    log: fastify.log,
    retryMs: opts.keyRetryMs ?? 1000,
    maxRetryMs: opts.keyRetryMaxMs ?? 30_000
  })
  fastify.decorate('secrets', secrets)
  fastify.decorate('keyLoader', keyLoader)

  fastify.addHook('onReady', async () => {
    // Start with the key when the vault answers; never block start on a hung vault.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      keyLoader.start(),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, opts.keyStartWaitMs ?? 3000) })
    ])
    clearTimeout(timer)
  })
  fastify.addHook('onClose', async () => { keyLoader.stop() })
}, { name: 'vault', fastify: '5.x', dependencies: ['config'] })
