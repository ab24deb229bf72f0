/**
 * The Functions app's entry (package.json `main`): config from the app
 * settings, then the functions (two HTTP triggers, a queue trigger per shard). Bad config throws here, naming each
 * bad variable, and the host reports that the app could not load.
 */
// A webpack-built CommonJS module: Node's ESM loader sees no named exports in it.
import azureFunctions from '@azure/functions'
import { loadConfig } from './config.js'
import { registerFunctions } from './functions.js'

const fns = registerFunctions(azureFunctions.app, loadConfig(process.env))
// Not awaited: loading is not held up by the token issuer; a first caller meanwhile waits for the same fetch.
void fns.warmUp()
