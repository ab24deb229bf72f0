/** What every codegate process does first. */
import { ConfigError } from './errors.js'

/**
 * Loads config or ends the process with exit code 1 and one line naming each
 * bad variable: a stack trace would only bury it.
 */
export function configOrExit<T> (name: string, load: () => T): T {
  try {
    return load()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${name}: ${err.message}\n`)
    process.exit(1)
  }
}
