/**
 * The Node releases codegate supports (package.json `engines`), for the
 * warning `npm start` prints on any other. End-of-life dates of the LTS
 * lines: https://github.com/nodejs/Release#release-schedule
 */
export const END_OF_LIFE: Readonly<Record<number, string>> = {
  18: '2025-04-30',
  20: '2026-04-30',
  22: '2027-04-30',
  24: '2028-04-30'
}

const SUPPORTED = 'codegate supports Node 24 (the active LTS) and 22'

/** Why `version` (e.g. process.version) should not run codegate on `now`, or undefined when it may. */
export function nodeSupportWarning (version: string, now: Date = new Date()): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1])
  if (!Number.isInteger(major)) return undefined
  const oldest = Math.min(...Object.keys(END_OF_LIFE).map(Number))
  const eol = END_OF_LIFE[major]
  if (major < oldest || (eol !== undefined && now.getTime() >= Date.parse(`${eol}T00:00:00Z`))) {
    return `Node ${version} is end-of-life${eol !== undefined ? ` since ${eol}` : ''}: it gets no security fixes. ${SUPPORTED}.`
  }
  // Odd majors never become LTS and are supported for six months only.
  if (major % 2 === 1) return `Node ${version} is not a long-term-support release. ${SUPPORTED}.`
  return undefined
}
