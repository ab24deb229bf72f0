/** .ci/run's closing lines name what failed, so a log cut to its tail still says where to look. */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { repositoryRoot } from '../src/local-system.js'

const root = repositoryRoot()

/** Runs .ci/run's failures_of over a tap log, without running the rest of the script. */
function failuresOf (tapLog: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'ci-run-'))
  const log = join(dir, 'run.tap')
  writeFileSync(log, tapLog)
  const script = `source <(sed -n '/^failures_of ()/,/^}/p' .ci/run) && failures_of "$1"`
  const out = execFileSync('bash', ['-c', script, 'bash', log], { cwd: root, encoding: 'utf8' })
  return out.split('\n').filter((line) => line !== '')
}

t.test('every failed assertion is named with its test file; passing files are not', async (t) => {
  const lines = failuresOf([
    '# Subtest: services/api/test/a.test.ts',
    '    # Subtest: sign-in refuses a spent code',
    '        ok 1 - answers 401',
    '        not ok 2 - should be equal',
    '    not ok 1 - sign-in refuses a spent code # time=3ms',
    'not ok 1 - services/api/test/a.test.ts # time=5ms',
    '# Subtest: soak/test/b.test.ts',
    '    ok 1 - fine',
    'ok 2 - soak/test/b.test.ts # time=1ms',
  ].join('\n'))
  t.same(lines, [
    'not ok in services/api/test/a.test.ts: not ok 2 - should be equal',
    'not ok in services/api/test/a.test.ts: not ok 1 - sign-in refuses a spent code # time=3ms',
    'not ok in services/api/test/a.test.ts: not ok 1 - services/api/test/a.test.ts # time=5ms',
  ])
})

t.test('a green log names nothing', async (t) => {
  t.same(failuresOf('# Subtest: x.test.ts\n    ok 1 - fine\nok 1 - x.test.ts\n'), [])
})
