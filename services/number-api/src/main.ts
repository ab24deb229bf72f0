/** Process entry of number-api: config from the environment, listen, close on SIGINT/SIGTERM (the shared process kit). */
import { configOrExit, runService } from '@codegate/shared/process'
import { buildNumberApi } from './app.js'
import { loadConfig } from './config.js'

const config = configOrExit('number-api', () => loadConfig(process.env))

const app = buildNumberApi(config)

await runService('number-api', {
  log: app.log,
  start: async () => {
    const url = await app.listen({ host: config.host, port: config.port })
    app.log.info({ url: `${url}/api/RandomNumber`, keyCount: config.keys.length }, 'number-api ready')
  },
  close: async () => { await app.close() }
})
