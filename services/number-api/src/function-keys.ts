import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest()

/**
 * Builds a check of a presented function key against every accepted key
 * (several, so a key can be rotated without downtime).
 *
 * Both sides are hashed first so timingSafeEqual compares equal lengths and
 * the time taken says nothing about a key's length; every key is compared,
 * so it says nothing about which one matched either.
 */
export function createKeyCheck (keys: readonly string[]): (presented: string | undefined) => boolean {
  if (keys.length === 0) throw new TypeError('createKeyCheck needs at least one key')
  const accepted = keys.map(digest)
  return (presented) => {
    if (presented === undefined || presented === '') return false
    const candidate = digest(presented)
    let match = false
    for (const key of accepted) match = timingSafeEqual(candidate, key) || match
    return match
  }
}
