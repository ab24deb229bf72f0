/**
 * `process.env` is read only in entry points, which pass it to a config
 * loader (or, for the harnesses, down as a value); every other source file
 * receives its environment or its config as a value, so a test can pass its own.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { repositoryRoot } from '../src/local-system.js'

const root = repositoryRoot()

/** The source folders of the workspaces (tests and scripts under test/ are not scanned). */
const SOURCE_DIRS = ['packages', 'services'].flatMap((group) =>
  readdirSync(join(root, group), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${group}/${e.name}/src`)
).concat(['bench/src', 'soak/src'])

/** Entry points: what `node <file>` or a host starts. */
const ENTRY_POINTS = [
  /^services\/[^/]+\/src\/main\.ts$/,
  /^services\/dev-vault\/src\/token-main\.ts$/,
  /^services\/functions\/src\/index\.ts$/, // the Functions host loads it (package.json main)
  /^packages\/stack\/src\/(cli|[a-z-]+-cli)\.ts$/,
  /^bench\/src\/(cli|[a-z-]+-cli|scale-inputs)\.ts$/,
  /^bench\/src\/children\/[a-z-]+\.ts$/, // forked by bench/src/child.ts
  /^soak\/src\/cli\.ts$/
]

/** Whether `source` reads the environment: process.env, process['env'] or `{ env } = process`, comments left out. */
function readsEnv (source: string): boolean {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1')
  return /\bprocess\s*(\.\s*env\b|\[\s*['"`]env['"`]\s*\])/.test(code) || /\{[^}]*\benv\b[^}]*\}\s*=\s*process\b/.test(code)
}

function sourceFiles (dir: string): string[] {
  let entries
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true })
  } catch {
    return []
  }
  return entries.flatMap((e) => e.isDirectory() ? sourceFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [])
}

t.test('only entry points read process.env', async (t) => {
  const files = SOURCE_DIRS.flatMap(sourceFiles)
  t.ok(files.includes('packages/shared/src/config.ts') && files.includes('bench/src/system.ts'), `the sources are found (${files.length})`)
  const readers = files.filter((file) => readsEnv(readFileSync(join(root, file), 'utf8')))
  t.ok(readers.includes('services/api/src/main.ts'), 'an entry point that reads it is found')
  t.same(readers.filter((file) => !ENTRY_POINTS.some((re) => re.test(file))), [], 'pass the environment in, or load config in the entry point')
})

t.test('the scan sees each way of reading the environment, and not a mention in a comment', async (t) => {
  t.ok(readsEnv('const a = process.env.PORT'))
  t.ok(readsEnv("const a = process['env']"))
  t.ok(readsEnv('const { env } = process'))
  t.ok(readsEnv("fork(x, { env: { ...process.env } }) // copy"))
  t.notOk(readsEnv('/** passes process.env in */\nconst a = 1'))
  t.notOk(readsEnv('const a = options.env // not process.env'))
  t.notOk(readsEnv("const url = 'http://x' + env.PORT"))
})
