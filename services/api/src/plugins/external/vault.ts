/**
 * The third-party key: a SecretProvider (cached, refreshed on 401) and the
 * loader that keeps trying while the vault is down (see key-loader.ts for why
 * the api starts anyway). The code hash key likewise: without it getcode and
 * sign-in answer 503 and /readyz says why; once loaded it is read again every
 * CODE_HASH_KEY_REFRESH_SECONDS to pick up a rotation.
 */
import type { TokenCredential } from '@azure/core-auth'
import fp from 'fastify-plugin'
import { createSecretClient } from '@codegate/shared/clients'
import type { CodeHashKeys } from '@codegate/shared/code-hash'
import { createCredential } from '@codegate/shared/credentials'
import { withTimeout } from '@codegate/shared/race'
import { SecretProvider } from '@codegate/shared/secret-provider'
import { createCodeHashKeys, refreshCodeHashKeys } from '../../compose.js'
import { KeyLoader } from '../../key-loader.js'

declare module 'fastify' {
  interface FastifyInstance {
    secrets: SecretProvider
    keyLoader: KeyLoader
    codeHashKeys: CodeHashKeys
    codeHashLoader: KeyLoader
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
  const client = createSecretClient(config, opts.credential ?? createCredential(config))
  const secrets = new SecretProvider(client, config.secretName)
  const retry = { log: fastify.log, retryMs: opts.keyRetryMs ?? 1000, maxRetryMs: opts.keyRetryMaxMs ?? 30_000 }
  const keyLoader = new KeyLoader({ secrets, ...retry })
  const { secretName, refreshSeconds } = config.codeHash
  const codeHashKeys = createCodeHashKeys(client, config, fastify.now)
  const codeHashLoader = new KeyLoader({
    secrets: { get: async () => { await codeHashKeys.load() }, get loaded () { return codeHashKeys.loaded }, name: secretName },
    what: 'code hash key',
    ...retry
  })
  fastify.decorate('secrets', secrets)
  fastify.decorate('keyLoader', keyLoader)
  fastify.decorate('codeHashKeys', codeHashKeys)
  fastify.decorate('codeHashLoader', codeHashLoader)
  const stopRefresh = refreshCodeHashKeys(codeHashKeys, refreshSeconds, fastify.log, secretName)

  fastify.addHook('onReady', async () => {
    // Start with the key when the vault answers; never block start on a hung vault.
    await withTimeout(Promise.all([keyLoader.start(), codeHashLoader.start()]), opts.keyStartWaitMs ?? 3000, () => undefined)
  })
  fastify.addHook('onClose', async () => {
    keyLoader.stop()
    codeHashLoader.stop()
    stopRefresh()
  })
}, { name: 'vault', fastify: '5.x', dependencies: ['config'] })
