/**
 * Client-supplied text that reaches a log line (paths, subjects) may hold a
 * whole code by mistake or on purpose; every code in it is replaced by
 * `[code]`, none of its letters kept (our own codes are logged by codeId).
 */
const CODE_IN_TEXT = /[A-Za-z]{3}-\d{1,4}-[A-Za-z]{3}/g

export function maskCodesIn (text: string): string {
  return text.replace(CODE_IN_TEXT, '[code]')
}

export function maskSubject (subject: string | undefined): string | undefined {
  return subject === undefined ? undefined : maskCodesIn(subject)
}
