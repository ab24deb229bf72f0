/** Process entry of number-api: config from the environment, listen, close on SIGINT/SIGTERM. */
import closeWithGrace from 'close-with-grace'
import { loadNumberApiConfig, type NumberApiConfig } from '@codegate/shared/config'
import { ConfigError } from '@codegate/shared/errors'
import { buildNumberApi } from './app.js'

let config: NumberApiConfig
try {
  config = loadNumberApiConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  process.stderr.write(`number-api: ${err.message}\n`)
  process.exit(1)
}

const app = buildNumberApi(config)

closeWithGrace({ delay: 10_000, logger: app.log }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'closing after an unexpected error')
  else app.log.info({ signal }, 'closing')
  await app.close()
})

try {
  const url = await app.listen({ host: config.host, port: config.port })
  app.log.info({ url: `${url}/api/RandomNumber`, keyCount: config.keys.length }, 'number-api ready')
} catch (err) {
  app.log.fatal({ err }, 'number-api could not listen')
  process.exit(1)
}
