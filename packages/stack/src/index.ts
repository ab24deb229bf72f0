export * from './azurite.js'
export * from './ports.js'
