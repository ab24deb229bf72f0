/**
 * `--node-flags "--max-old-space-size=96"` as a person types it: node's
 * parseArgs refuses an option value that starts with a dash ("ambiguous"), so
 * the value of each option named here is glued to it (`--node-flags=…`) first.
 */
export function glueDashValues (argv: readonly string[], options: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const value = argv[i + 1]
    if (options.includes(arg) && value !== undefined && value.startsWith('-')) {
      out.push(`${arg}=${value}`)
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}
