/**
 * Messages no codegate version wrote, put straight on the queue: each must
 * end in code-requests-poison, and none may make a code valid. None holds a
 * whole code (so none can activate one, and none can show up as a code in a
 * log).
 */
import type { Random } from '@codegate/stack'

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')
const iso = (ms: number): string => new Date(ms).toISOString()

/** One kind of garbage; `n` makes each message distinct. */
export type GarbageMaker = (n: number, now: number) => string

export const GARBAGE: Record<string, GarbageMaker> = {
  'plain text': (n) => `soak garbage ${n}: not a message at all`,
  'base64 of text': (n) => b64(`soak garbage ${n}: base64 of something that is not JSON`),
  'broken JSON': (n) => `{"v":1,"phase":"activate","n":${n}`,
  'JSON array': (n) => `[1,2,${n}]`,
  'unknown version': (n, now) => b64(JSON.stringify({ v: 2, phase: 'activate', code: 'not a code', issuedAt: iso(now), expiresAt: iso(now + 60_000), n })),
  'unknown phase': (n, now) => b64(JSON.stringify({ v: 1, phase: 'toggle', issuedAt: iso(now), expiresAt: iso(now + 60_000), n })),
  'malformed code': (n, now) => b64(JSON.stringify({ v: 1, phase: 'activate', code: `abc-${n}-`, issuedAt: iso(now), expiresAt: iso(now + 60_000) })),
  'expiry before issue': (n, now) => JSON.stringify({ v: 1, phase: 'expire', code: `ab-${n}`, issuedAt: iso(now), expiresAt: iso(now - 1000) }),
  'legacy without a code': (n, now) => JSON.stringify({ timestamp: iso(now).replace('T', ' ').replace('Z', ''), n }),
  'Python dict with a bad code': (n) => `{'code': 'no-${n}', 'timestamp': '2020-04-15 16:54:48.816549'}`,
  'oversized': (n) => `soak garbage ${n} ` + 'x'.repeat(5000)
}

export interface GarbageMessage {
  kind: string
  text: string
}

/** `count` messages, cycling through every kind (shuffled), so a burst covers all of them. */
export function garbageBurst (count: number, random: Random, now: number = Date.now()): GarbageMessage[] {
  const kinds = Object.keys(GARBAGE)
  const out: GarbageMessage[] = []
  for (let i = 0; i < count; i++) {
    const kind = i < kinds.length ? kinds[i] as string : random.pick(kinds)
    const make = GARBAGE[kind] as GarbageMaker
    out.push({ kind, text: make(i, now) })
  }
  return out
}
