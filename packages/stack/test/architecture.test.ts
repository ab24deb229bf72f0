/**
 * docs/architecture.md is a map of the tree, so the tree checks the map:
 * every repository path it names exists, every `path#symbol` names something
 * declared in that file, and every `@codegate/<workspace>/<module>` is a
 * module of that workspace. The layering it states is checked against the
 * code: a workspace imports only the workspaces its package.json names, and
 * no text in the repository points at a document or a folder that exists
 * only on someone's machine.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'
import { readManifest as read, root, workspaceDirs } from './fixtures/workspaces.js'

/** The text of every inline code span of a Markdown text, fenced blocks left out. */
function codeSpans (markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '')
  return [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] as string)
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Whether `text` declares `name`: a TypeScript function, class, type, const,
 * method, property or object member, a shell function, a JSON key or a
 * Dockerfile stage. A mention in a comment or a call is not a declaration.
 */
function declares (text: string, name: string): boolean {
  const n = escape(name)
  return new RegExp([
    `\\b(?:function|class|interface|type|enum|const|let|var)\\s+${n}\\b`,
    `^[ \\t]*(?:(?:export|default|public|private|protected|static|readonly|async|get|set|override|declare)\\s+)*#?${n}\\s*(?:<[^>\\n]*>)?\\s*[(:=?!]`,
    `["']${n}["']\\s*:`,
    `\\bAS\\s+${n}\\s*$`
  ].join('|'), 'm').test(text)
}

/** `Class.member` or `name`: every part must be declared in the file. */
function symbolProblem (file: string, symbol: string): string | undefined {
  const text = readFileSync(join(root, file), 'utf8')
  const missing = symbol.split('.').filter((part) => !declares(text, part))
  return missing.length === 0 ? undefined : `${file} declares no ${missing.join(', ')}`
}

/** The tracked entries at the top of the tree that a path may start with (git-ignored ones such as .data are not). */
const topLevel = new Set(readdirSync(root).filter((name) => name === '.ci' || name === '.taprc' || !(name.startsWith('.') || name === 'node_modules')))

const workspaceByName = new Map(workspaceDirs().map((dir) => [read(dir).name, dir]))

function tsFiles (dir: string): string[] {
  if (!existsSync(join(root, dir))) return []
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [])
}

/** The file names of every workspace's sources: what a bare `health.ts` in a folder's section of the map may name. */
const sourceNames = new Set(workspaceDirs().flatMap((dir) => tsFiles(`${dir}/src`)).map((file) => file.slice(file.lastIndexOf('/') + 1)))

/**
 * What a code span of the map names, and why it is wrong (undefined when it
 * is right); null when the span is no repository path (a URL, a variable, a
 * route, a pattern such as services/<name>/…).
 */
function pathProblem (span: string): string | undefined | null {
  const workspace = /^(@codegate\/[a-z-]+)(?:\/([a-z-]+))?(?:#([A-Za-z_$][\w$.]*))?$/.exec(span)
  if (workspace !== null) {
    const dir = workspaceByName.get(workspace[1] as string)
    if (dir === undefined) return `no workspace is named ${workspace[1] ?? ''}`
    if (workspace[2] === undefined) return undefined
    const file = `${dir}/src/${workspace[2]}.ts`
    if (!existsSync(join(root, file))) return `${span}: ${file} does not exist`
    return workspace[3] === undefined ? undefined : symbolProblem(file, workspace[3])
  }
  if (/^[\w.-]+\.ts$/.test(span)) return sourceNames.has(span) ? undefined : `no workspace has a source file named ${span}`
  const path = /^([\w.-]+(?:\/[\w.-]+)*\/?)(?:#([A-Za-z_$][\w$.-]*))?$/.exec(span)
  if (path === null) return null
  const file = path[1] as string
  if (!topLevel.has(file.split('/')[0] as string) || (!file.includes('/') && path[2] === undefined && !topLevel.has(file))) return null
  if (!existsSync(join(root, file))) return `${file} does not exist`
  return path[2] === undefined ? undefined : symbolProblem(file, path[2])
}

t.test('every path, module and symbol docs/architecture.md names exists', async (t) => {
  const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8')
  const checked = codeSpans(doc).map((span) => ({ span, problem: pathProblem(span) })).filter((c) => c.problem !== null)
  t.ok(checked.length >= 100, `the map's paths are found (${checked.length})`)
  t.ok(checked.some((c) => c.span.includes('#')), 'symbols are checked too')
  t.same([...new Set(checked.filter((c) => c.problem !== undefined).map((c) => c.problem))], [], 'fix the map (or the tree): docs/architecture.md names what is not there')
})

t.test('the map check tells a path from a word, and a declaration from a mention', async (t) => {
  t.equal(pathProblem('packages/shared/src/code.ts'), undefined)
  t.equal(pathProblem('packages/shared/src/code.ts#generateCode'), undefined)
  t.equal(pathProblem('packages/shared/src/codes-table.ts#CodesTable.consume'), undefined)
  t.ok(declares('class W {\n  private async poll (): Promise<void> {', 'poll'), 'a private method')
  t.ok(declares('  readonly stats: Stats = {', 'stats'), 'a property')
  t.ok(declares('shard_names() {\n', 'shard_names'), 'a shell function')
  t.ok(declares('{ "queues": { "maxDequeueCount": 5 } }', 'maxDequeueCount'), 'a JSON key')
  t.ok(declares('FROM runtime AS worker\n', 'worker'), 'a Dockerfile stage')
  t.equal(pathProblem('@codegate/shared/message#decodeMessage'), undefined)
  t.match(pathProblem('packages/shared/src/nothing.ts'), /does not exist/)
  t.match(pathProblem('packages/shared/src/code.ts#noSuchThing'), /declares no noSuchThing/)
  t.match(pathProblem('packages/shared/src/codes-table.ts#CodesTable.remove'), /declares no remove/)
  t.match(pathProblem('@codegate/shared/nothing'), /does not exist/)
  t.match(pathProblem('@codegate/nothing/x'), /no workspace/)
  t.equal(pathProblem('health.ts'), undefined, 'a source file named in its folder\'s section')
  t.match(pathProblem('healthz.ts'), /no workspace has a source file named healthz.ts/)
  t.equal(pathProblem('/api/v1/getcode'), null, 'a route')
  t.equal(pathProblem('CODE_TTL_SECONDS'), null, 'a variable')
  t.equal(pathProblem('services/<name>/src/config.ts'), null, 'a pattern')
  t.equal(pathProblem('.data/dev-vault'), null, 'a git-ignored folder')
  t.notOk(declares('/** calls generateCode(n) */\nconst x = generateCode(1)', 'generateCode'), 'a call or a comment is no declaration')
})

/** Import specifiers of a TypeScript source: static, dynamic and side-effect imports, and re-exports. */
function specifiers (source: string): string[] {
  return [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1] as string)
}


/**
 * Relative imports that leave their workspace, known and named in the map
 * ("Code map", services/functions): the Functions tests reuse the api's test
 * parts and the benchmark's storage-transaction counter. No others.
 */
const CROSSINGS_ALLOWED = new Set([
  'services/functions/test → services/api/test/fixtures/parts.ts',
  'services/functions/test → bench/src/counting-proxy.ts'
])

t.test("each workspace imports only the workspaces its package.json names (src: dependencies; test: dev dependencies too)", async (t) => {
  const wrong: string[] = []
  const crossings = new Set<string>()
  let imports = 0
  for (const dir of workspaceDirs()) {
    const manifest = read(dir)
    const allowed = {
      src: new Set([manifest.name, ...Object.keys(manifest.dependencies ?? {})]),
      test: new Set([manifest.name, ...Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })])
    }
    for (const part of ['src', 'test'] as const) {
      for (const file of tsFiles(`${dir}/${part}`)) {
        for (const spec of specifiers(readFileSync(join(root, file), 'utf8'))) {
          if (spec.startsWith('@codegate/')) {
            imports++
            const name = spec.split('/').slice(0, 2).join('/')
            if (!allowed[part].has(name)) wrong.push(`${file} imports ${name}, which ${dir}/package.json does not list${part === 'test' ? ' (not even as a dev dependency)' : ' as a dependency'}`)
          } else if (spec.startsWith('.')) {
            const target = relative(root, resolve(dirname(join(root, file)), spec)).replace(/\\/g, '/').replace(/\.js$/, '.ts')
            if (!target.startsWith(`${dir}/`)) crossings.add(`${dir}/${part} → ${target}`)
          }
        }
      }
    }
  }
  t.ok(imports >= 100, `the imports are found (${imports})`)
  t.same(wrong, [], 'add the dependency (no loop: workspaces.test.ts), or move the code')
  t.same([...crossings].filter((c) => !CROSSINGS_ALLOWED.has(c)), [], 'import another workspace by its package name, not by a relative path out of this one')
})

/** The tracked text files (git ls-files), lockfile and recorded results left out. */
function trackedTexts (): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' }).split('\0')
    .filter((f) => f !== '' && f !== 'package-lock.json' && !f.startsWith('bench/results/') && existsSync(join(root, f)))
    .filter((f) => /\.(ts|mjs|js|sh|ya?ml|md|json)$|(^|\/)(Dockerfile|\.taprc|run|az)$/.test(f))
}

/**
 * What only someone's machine has: the two design notes the first comments
 * cited, and paths of a home or work folder (the node user's home in a
 * container image is the image's own).
 */
const OUTSIDE = /\b(?:design|emulators)\.md\b|(?:^|[^\w.-])\/(?:home|Users|work)\/(?!node\b)[\w.-]+/m

t.test('no file points outside the repository', async (t) => {
  const files = trackedTexts()
  t.ok(files.includes('docs/architecture.md') && files.length >= 200, `the tracked files are found (${files.length})`)
  const hits = files.flatMap((file) => readFileSync(join(root, file), 'utf8').split('\n')
    .flatMap((line, i) => OUTSIDE.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : []))
  t.same(hits, [], 'say it in the repository (docs/architecture.md keeps the facts about Azurite and Key Vault)')
  // Written in pieces, so that this file does not hit itself.
  t.ok(OUTSIDE.test('see emulators' + '.md') && OUTSIDE.test('volumes: [/' + 'home/someone/codegate:/src]') && !OUTSIDE.test('WORKDIR /' + 'home/node/app'), 'the pattern sees them')
})
