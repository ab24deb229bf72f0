/** Process entry of the api: config from the environment, listen, close on SIGINT/SIGTERM. */
import closeWithGrace from 'close-with-grace'
import { loadApiConfig } from '@codegate/shared/config'
import { configOrExit } from '@codegate/shared/process'
import { buildApp } from './app.js'

const config = configOrExit('api', () => loadApiConfig())

const app = buildApp(config)

closeWithGrace({ delay: 10_000, logger: app.log }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'closing after an unexpected error')
  else app.log.info({ signal }, 'closing')
  await app.close()
})

try {
  const url = await app.listen({ host: config.host, port: config.port })
  app.log.info({ url, docs: `${url}/docs`, keyLoaded: app.keyLoader.loaded }, 'api ready')
} catch (err) {
  app.log.fatal({ err }, 'api could not listen')
  process.exit(1)
}
