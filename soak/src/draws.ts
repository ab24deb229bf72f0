/**
 * The soak's seeded choices, as pure functions of its generator: which
 * sign-in plan a code gets and when, the made-up codes of unknown sign-ins
 * and the attacker, and the client address each caller claims.
 */
import type { Random } from '@codegate/stack'
import type { Plan } from './records.js'

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'

/** A client address of its own for each honest user (10.…, bursts 11.…), unknown-code sign-in (12.…) and attacker address (13.…). */
export function address (first: number, i: number): string {
  return `${first}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
}
export const honestAddress = (n: number): string => n < 1_000_000 ? address(10, n) : address(11, Math.floor(n / 1_000_000) * 4096 + (n % 1_000_000))

/** The random draws of one tick, made in tick order so a seed gives the same plan. */
export interface Draw {
  plan: Plan
  /** Where in the valid window the sign-in goes, 0..1. */
  validAt: number
  /** How long after expiry the late sign-in goes, 0..1 of 1.5 s. */
  lateBy: number
}

/** A share `sampleShare` of codes gets a plan: 20 % early, 30 % once, 20 % twice, 30 % expired. */
export function drawFor (random: Random, sampleShare: number): Draw {
  const r = random.next()
  let plan: Plan = 'none'
  if (r < sampleShare) {
    const p = r / sampleShare
    plan = p < 0.2 ? 'early' : p < 0.5 ? 'once' : p < 0.7 ? 'twice' : 'expired'
  }
  return { plan, validAt: random.next(), lateBy: random.next() }
}

/** A well-formed code nobody issued (almost surely: the caller checks). */
export function unknownCode (random: Random): string {
  const letters = (): string => Array.from({ length: 3 }, () => random.pick([...LETTERS])).join('')
  return `${letters()}-${1 + random.int(1000)}-${letters()}`
}
