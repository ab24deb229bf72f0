/**
 * Sign-in codes: three letters, the third-party number, three letters, e.g.
 * `ojE-161-pTv`. Letters come from node:crypto's randomInt, which rejects
 * out-of-range draws instead of reducing them modulo 52, so every letter is
 * equally likely.
 */
import { createHash, randomInt } from 'node:crypto'
import { CodeFormatError } from './errors.js'

export const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
export const NUMBER_MIN = 1
export const NUMBER_MAX = 1000

/**
 * One issue of a code: when it was issued, when it dies, and whom it is for
 * (when the caller named a subject). The message, the row and the api's
 * answer each add their own fields to it.
 */
export interface CodeIssue {
  issuedAt: Date
  expiresAt: Date
  subject?: string
}

/** The whole code syntax; anything else is rejected before it reaches storage. */
export const CODE_PATTERN = '^[A-Za-z]{3}-(?:[1-9][0-9]{0,2}|1000)-[A-Za-z]{3}$'
const codeRegExp = new RegExp(CODE_PATTERN)

function letters (count: number): string {
  let out = ''
  for (let i = 0; i < count; i++) out += LETTERS[randomInt(LETTERS.length)]
  return out
}

export function isValidNumber (n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= NUMBER_MIN && n <= NUMBER_MAX
}

export function generateCode (n: number): string {
  if (!isValidNumber(n)) throw new CodeFormatError(`the number must be an integer in ${NUMBER_MIN}..${NUMBER_MAX}, got ${String(n)}`)
  return `${letters(3)}-${n}-${letters(3)}`
}

export function isCode (value: unknown): value is string {
  return typeof value === 'string' && codeRegExp.test(value)
}

export function assertCode (value: unknown): string {
  if (!isCode(value)) throw new CodeFormatError('a code is three letters, a number from 1 to 1000 and three letters, joined by "-"')
  return value
}

/**
 * Two hex digits of a string's SHA-256. The codes table no longer keys rows
 * by code (its partition is the keyed hash's first two digits,
 * `partitionKeyOfHash`); this stays as the unkeyed spread that the shard
 * tests compare `shardOf` against.
 */
export function partitionKeyOf (code: string): string {
  return createHash('sha256').update(code).digest('hex').slice(0, 2)
}
