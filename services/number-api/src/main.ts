/** Process entry of number-api: config from the environment, listen, close on SIGINT/SIGTERM. */
import closeWithGrace from 'close-with-grace'
import { loadNumberApiConfig } from '@codegate/shared/config'
import { configOrExit } from '@codegate/shared/process'
import { buildNumberApi } from './app.js'

const config = configOrExit('number-api', () => loadNumberApiConfig())

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
