/**
 * The workspaces depend on each other in one direction only, dev
 * dependencies included: a package's tests may use only what that package
 * may depend on (tests of shared that need Azurite or dev-vault live in
 * packages/shared-integration, since stack and dev-vault depend on shared).
 * And shared's tests mirror its sources: src/x.ts has a test/x.test.ts.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { readManifest as read, root, workspaceDirs } from './fixtures/workspaces.js'

/** Every cycle in `graph`, each as the path that closes it (a → b → a). */
function cyclesOf (graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = []
  const done = new Set<string>()
  const visit = (node: string, path: string[]): void => {
    const at = path.indexOf(node)
    if (at >= 0) {
      cycles.push([...path.slice(at), node])
      return
    }
    if (done.has(node)) return
    for (const next of graph.get(node) ?? []) visit(next, [...path, node])
    done.add(node)
  }
  for (const node of graph.keys()) visit(node, [])
  return cycles
}

t.test('no workspace depends on itself through others, dev dependencies included', async (t) => {
  const manifests = workspaceDirs().map(read)
  const names = new Set(manifests.map((m) => m.name))
  t.ok(names.has('@codegate/shared') && names.has('@codegate/stack') && names.size >= 9, `the workspaces are found (${[...names].join(', ')})`)
  const graph = new Map(manifests.map((m) => [m.name, Object.keys({ ...m.dependencies, ...m.devDependencies, ...m.peerDependencies }).filter((d) => names.has(d))]))
  t.same(cyclesOf(graph).map((c) => c.join(' → ')), [])
})

t.test('the cycle finder finds a loop through dev dependencies, and only loops', async (t) => {
  t.same(cyclesOf(new Map([['shared', ['stack']], ['stack', ['shared']]])), [['shared', 'stack', 'shared']])
  t.same(cyclesOf(new Map([['api', ['shared', 'stack']], ['stack', ['shared']], ['shared', []]])), [])
})

t.test('every module of packages/shared has a test file of its own, in shared/test or, when it needs Azurite or dev-vault, shared-integration/test', async (t) => {
  const names = (dir: string, suffix: string): string[] => readdirSync(join(root, dir)).filter((f) => f.endsWith(suffix)).map((f) => f.slice(0, -suffix.length))
  const modules = names('packages/shared/src', '.ts').filter((m) => m !== 'index')
  const tested = new Set([...names('packages/shared/test', '.test.ts'), ...names('packages/shared-integration/test', '.test.ts')])
  t.ok(modules.includes('code-hash') && modules.length >= 10, `the modules are found (${modules.join(', ')})`)
  t.same(modules.filter((m) => !tested.has(m)), [], 'modules without a test file named for them')
})
