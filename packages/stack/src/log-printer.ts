/**
 * Many processes, one terminal: every line gets its process's prefix, and pino
 * JSON lines are made readable with pino-pretty. Lines that are not JSON (a
 * crash's stack trace, Azurite's own output) pass through unchanged.
 */
import pinoPretty from 'pino-pretty'

export interface LogPrinterOptions {
  /** Where lines go; default process.stdout. */
  out?: { write: (text: string) => unknown }
  /** ANSI colors; default: when stdout is a terminal and NO_COLOR is not set (pino-pretty's rule). */
  colors?: boolean
  /** Prefix of the printer's own messages. */
  selfName?: string
  /** Names known in advance, so that prefixes line up from the first line. */
  names?: string[]
}

export interface LogPrinter {
  /** One line of output from the process `name`. */
  line: (name: string, text: string) => void
  /** A message from the launcher itself. */
  say: (text: string) => void
}

// Foreground colors for prefixes, assigned to names in order of appearance.
const PALETTE = [36, 35, 33, 32, 34, 96, 95, 93]

export function createLogPrinter (options: LogPrinterOptions = {}): LogPrinter {
  const out = options.out ?? process.stdout
  const colors = options.colors ?? pinoPretty.isColorSupported
  const selfName = options.selfName ?? 'stack'
  const pretty = pinoPretty.prettyFactory({
    colorize: colors,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // The prefix already names the process.
    ignore: 'pid,hostname,name,event',
    // Worker events (code.activated, code.expired, ...) lead the line when a record carries one.
    messageFormat: (log, messageKey) => {
      const msg = log[messageKey]
      const text = typeof msg === 'string' || typeof msg === 'number' ? String(msg) : ''
      const event = log.event
      if (typeof event !== 'string' || event === text) return text
      return text === '' ? event : `${event} ${text}`
    }
  })

  const assigned = new Map<string, string>()
  let width = 0
  const prefixOf = (name: string): string => {
    let prefix = assigned.get(name)
    if (prefix === undefined) {
      const label = `[${name}]`
      const code = PALETTE[assigned.size % PALETTE.length] ?? 36
      prefix = colors ? `\u001b[${code}m${label}\u001b[39m` : label
      assigned.set(name, prefix)
      width = Math.max(width, label.length)
    }
    // Pad to the widest label seen so far, so the text lines up.
    return prefix + ' '.repeat(Math.max(0, width - name.length - 2) + 1)
  }

  const write = (name: string, text: string): void => {
    const prefix = prefixOf(name)
    const lines = text.replace(/\r?\n$/, '').split(/\r?\n/)
    out.write(lines.map((l) => prefix + l + '\n').join(''))
  }

  for (const name of [selfName, ...options.names ?? []]) prefixOf(name)

  return {
    line (name, text) {
      if (text.trim() === '') return
      const formatted = text.trimStart().startsWith('{') ? pretty(text) : text
      // pino-pretty returns nothing for records below its minimum level.
      if (typeof formatted === 'string' && formatted.trim() !== '') write(name, formatted)
    },
    say (text) {
      write(selfName, text)
    }
  }
}
