/**
 * `npm run trace [-- <code id>]`: the traces `TRACE=1 npm start` kept (its
 * local OTLP receiver's spans file). Without an argument, the codes traced,
 * oldest first; with a code id (or its first characters, as the logs and
 * `npm run codes` show it) or a trace id, that trace as a tree: getcode and
 * the activate under it, then the sign-ins and the expire that link to it.
 */
import { readFile } from 'node:fs/promises'
import { relative } from 'node:path'
import { ConfigError } from '@codegate/shared/errors'
import { loadLauncherConfig } from './cli-config.js'
import { repositoryRoot } from './local-system.js'
import { parseSpanLines, spansFile, traceTree, tracedCodes } from './otlp-receiver.js'

const USAGE = 'usage: npm run trace [-- <code id> | <trace id>]'

async function main (args: string[]): Promise<number> {
  if (args.length > 1 || args[0]?.startsWith('-') === true) {
    process.stderr.write(`${USAGE}\n`)
    return args[0] === '--help' || args[0] === '-h' ? 0 : 2
  }
  const config = loadLauncherConfig(process.env, repositoryRoot())
  const file = spansFile(config.dataDir)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    process.stderr.write(`no spans in ${relative(process.cwd(), file) || file}: start the system with TRACE=1 npm start and issue a code\n`)
    return 1
  }
  const spans = parseSpanLines(text)
  const codes = tracedCodes(spans)
  const wanted = args[0]?.toLowerCase()
  if (wanted === undefined) {
    if (codes.length === 0) process.stdout.write('(no code traced yet)\n')
    for (const c of codes) process.stdout.write(`${c.codeId}  ${c.issuedAt.toISOString()}  trace ${c.traceId}\n`)
    return 0
  }
  let traceId: string
  if (/^[0-9a-f]{32}$/.test(wanted)) {
    traceId = wanted
  } else {
    const found = codes.filter((c) => c.codeId.startsWith(wanted))
    if (found.length === 0) {
      process.stderr.write(`no traced code id starts with ${wanted} (npm run trace lists them)\n`)
      return 1
    }
    const ids = [...new Set(found.map((c) => c.codeId))]
    if (ids.length > 1) {
      process.stderr.write(`${wanted} names ${ids.length} codes: ${ids.join(', ')}; give more characters\n`)
      return 1
    }
    traceId = (found.at(-1) as { traceId: string }).traceId
    process.stdout.write(`code ${ids[0] ?? ''}  trace ${traceId}\n`)
  }
  const tree = traceTree(spans, traceId)
  if (tree === '') {
    process.stderr.write(`no span of trace ${traceId}\n`)
    return 1
  }
  process.stdout.write(`${tree}\n`)
  return 0
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  process.stderr.write(`trace: ${err.message}\n`)
  process.exitCode = 1
}
