/**
 * `npm run codes [-- <id>]`: what the local system's table of valid codes
 * holds right now, read with the real SDK (the local stand-in for
 * `az storage entity query --table-name codes`). The table holds only hashes
 * of codes, so rows are shown by code id (the first hex characters of the
 * hash, as the logs name them) and state; `<id>` picks the rows whose id
 * starts with it.
 */
import { TableClient } from '@azure/data-tables'
import type { CodeIssue } from '@codegate/shared/code'
import { codeIdOf } from '@codegate/shared/code-hash'
import { checkSignIn, type CodeRow } from '@codegate/shared/codes-table'
import { fragments, readEnv } from '@codegate/shared/config'
import { statusOf } from '@codegate/shared/errors'
import { configOrExit } from '@codegate/shared/process'
import { connectionStringFor } from './azurite.js'
import { loadLauncherConfig } from './cli-config.js'
import { repositoryRoot } from './local-system.js'

const config = configOrExit('codes', () => loadLauncherConfig(process.env, repositoryRoot()))
// The services' own variable, read with its shared schema: the same default and check.
const tableSchema = { properties: { CODES_TABLE_NAME: fragments.storage.CODES_TABLE_NAME! }, required: [] }
const tableName = configOrExit('codes', () => readEnv(tableSchema, process.env).CODES_TABLE_NAME as string)
const wanted = process.argv[2]
const table = TableClient.fromConnectionString(
  connectionStringFor('127.0.0.1', config.ports.queue, config.ports.table),
  tableName,
  { allowInsecureConnection: true }
)

/** A row as the table client lists it: the issue under the hash (RowKey). */
type Entity = CodeIssue & { rowKey: string, consumedAt?: Date, etag: string }

const now = new Date()
const rows: string[][] = [['id', 'issued', 'expires', 'subject', 'state']]
try {
  for await (const entity of table.listEntities<Entity>()) {
    if (wanted !== undefined && !entity.rowKey.startsWith(wanted.toLowerCase())) continue
    const row: CodeRow = { codeHash: entity.rowKey, issuedAt: new Date(entity.issuedAt), expiresAt: new Date(entity.expiresAt), etag: entity.etag, ...(entity.subject !== undefined ? { subject: entity.subject } : {}), ...(entity.consumedAt !== undefined ? { consumedAt: new Date(entity.consumedAt) } : {}) }
    const check = checkSignIn(row, row.subject, now)
    rows.push([codeIdOf(row.codeHash), row.issuedAt.toISOString(), row.expiresAt.toISOString(), row.subject ?? '', check.approved ? 'valid' : check.reason])
  }
} catch (err) {
  process.stderr.write(statusOf(err) === 404
    ? 'The codes table does not exist yet: start the system (npm start) and issue a code.\n'
    : `Cannot read the codes table at 127.0.0.1:${config.ports.table}: is npm start running? (${(err as Error).message})\n`)
  process.exit(1)
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
for (const r of rows) process.stdout.write(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd() + '\n')
if (rows.length === 1) process.stdout.write(wanted !== undefined ? `no code id starts with ${wanted}\n` : '(no codes)\n')
