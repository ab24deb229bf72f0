/**
 * Every error codegate raises on purpose carries a stable `code` that callers
 * branch on and logs can be searched for; the message says what to do.
 */
export class CodegateError extends Error {
  readonly code: string

  constructor (code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** Configuration is missing or malformed: the process must not start. */
export class ConfigError extends CodegateError {
  readonly variables: string[]

  constructor (problems: { variable: string, problem: string }[]) {
    super('CONFIG_INVALID', 'Invalid configuration: ' + problems.map((p) => `${p.variable} ${p.problem}`).join('; '))
    this.variables = problems.map((p) => p.variable)
  }
}

/** A queue message that no version of codegate (or the original sample) wrote. */
export class MessageFormatError extends CodegateError {
  constructor (message: string, options?: ErrorOptions) {
    super('MESSAGE_UNREADABLE', message, options)
  }
}

/** A string that is not a codegate code; raised before any storage call. */
export class CodeFormatError extends CodegateError {
  constructor (message: string) {
    super('CODE_INVALID', message)
  }
}

/**
 * The HTTP status an Azure SDK call failed with (RestError's `statusCode`),
 * or undefined for a failure that got no answer (a timeout, a refused
 * connection) or is no SDK error at all.
 */
export function statusOf (err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null | undefined)?.statusCode
  return typeof status === 'number' ? status : undefined
}
