/** The original app's timestamp: UTC, `YYYY-MM-DD HH:MM:SS.ffffff` (Python's str(datetime)). */
export function formatTimestamp (date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '000')
}

/** Reads that format (no zone: UTC, as the sample wrote it) or any ISO 8601 text. */
export function parseTimestamp (text: string): Date | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?$/.exec(text)
  let date: Date
  if (m !== null) date = new Date(`${m[1]}T${m[2]}.${(m[3] ?? '0').padEnd(3, '0').slice(0, 3)}Z`)
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/.test(text)) date = new Date(text)
  else return undefined
  return Number.isNaN(date.getTime()) ? undefined : date
}
