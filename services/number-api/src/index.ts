export { buildNumberApi, ROUTE, type NumberApiOptions } from './app.js'
export { createKeyCheck } from './function-keys.js'
