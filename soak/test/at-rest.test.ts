/** The at-rest scan finds an issued code as written, inside base64, and in files; hashes and other codes are not hits. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { AtRestScan } from '../src/at-rest.js'

const issued = new Set(['ojE-161-pTv'])

t.test('an issued code in clear or in base64 is a hit; a hash, an id and an unissued code are not', async (t) => {
  const scan = new AtRestScan(issued)
  scan.text('table codes', '{"rowKey":"8c1f0a2b9e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b","subject":"x"}')
  scan.text('queue code-requests', Buffer.from('{"v":2,"phase":"expire","codeHash":"8c1f"}').toString('base64'))
  scan.text('queue code-requests', 'abC-12-xyZ is not one of ours')
  t.same(scan.hits, [])
  scan.text('queue code-requests', Buffer.from(JSON.stringify({ code: 'ojE-161-pTv', timestamp: 'x' })).toString('base64'))
  scan.text('queue code-requests-poison', '{"text":"{\'code\': \'ojE-161-pTv\'}"}')
  t.same(scan.hits, [{ where: 'queue code-requests', code: 'ojE-161-pTv' }, { where: 'queue code-requests-poison', code: 'ojE-161-pTv' }])
  t.equal(scan.scanned, 5)
})

t.test('every file under a folder is read, nested ones too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'codegate-at-rest-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, '__queuestorage__'))
  await writeFile(join(dir, '__queuestorage__', 'extent'), Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(Buffer.from('{"code":"ojE-161-pTv"}').toString('base64'))]))
  await writeFile(join(dir, 'db.json'), '{"rows":[]}')
  const scan = new AtRestScan(issued)
  await scan.folder(dir, 'azurite file')
  t.same(scan.hits, [{ where: 'azurite file __queuestorage__/extent', code: 'ojE-161-pTv' }])
  t.equal(scan.scanned, 2)
})
