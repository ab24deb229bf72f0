/**
 * pino settings shared by every process, so that no process can log a key,
 * a token or a whole code by accident.
 */
import pino, { type Logger, type LoggerOptions } from 'pino'

/** Paths redacted in every log line, wherever they appear in request logs and objects. */
export const redactPaths = [
  'req.headers["x-functions-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.query.code',
  'headers["x-functions-key"]',
  'headers.authorization',
  'key',
  'secret',
  'value',
  'apiKey',
  'token',
  '*.key',
  '*.secret',
  '*.apiKey',
  '*.token',
  // Codes are logged by `codeId` (code-hash.ts), never by their letters; a whole one under `code` is cut.
  'code',
  'body.code'
]

/** Shows that a secret is set and which one it is, never its value. */
export function maskSecret (secret: string): string {
  return secret.length < 12 ? '***' : `${secret.slice(0, 2)}…(${secret.length} chars)`
}

export function loggerOptions (name: string, level: string): LoggerOptions {
  return {
    name,
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    // Request URLs carry ?code= (a key) or ?subject=; log the path only.
    serializers: {
      req (req: { method: string, url: string, id?: string }) {
        return { method: req.method, url: req.url.split('?')[0], id: req.id }
      },
      err: pino.stdSerializers.err
    }
  }
}

export function createLogger (name: string, level: string): Logger {
  return pino(loggerOptions(name, level))
}

export type { Logger }
