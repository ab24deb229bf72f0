import { X509Certificate } from 'node:crypto'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { certificateCovers, certificateFiles, ensureCertificate, readCaPem } from '../src/certificate.js'

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dev-vault-cert-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('makes a certificate naming every host, IP entries for addresses, with a private key file', async (t) => {
  const dir = join(await tempDir(t), 'nested')
  const tls = await ensureCertificate(dir, ['localhost', '127.0.0.1', 'dev-vault', '::1'])
  t.equal(tls.created, true)
  const cert = new X509Certificate(tls.cert)
  t.equal(cert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, DNS:dev-vault, IP Address:0:0:0:0:0:0:0:1')
  t.equal((await stat(tls.keyFile)).mode & 0o777, 0o600)
  t.equal(await readCaPem(dir), tls.cert)
})

t.test('reuses a certificate that still covers the hosts', async (t) => {
  const dir = await tempDir(t)
  const first = await ensureCertificate(dir, ['localhost', '127.0.0.1'])
  const again = await ensureCertificate(dir, ['127.0.0.1'])
  t.equal(again.created, false)
  t.equal(again.cert, first.cert)
})

t.test('replaces a certificate that misses a host, or whose key does not match', async (t) => {
  const dir = await tempDir(t)
  const first = await ensureCertificate(dir, ['localhost'])
  const wider = await ensureCertificate(dir, ['localhost', 'vault'])
  t.equal(wider.created, true)
  t.not(wider.cert, first.cert)

  await writeFile(certificateFiles(dir).keyFile, first.key)
  const repaired = await ensureCertificate(dir, ['localhost', 'vault'])
  t.equal(repaired.created, true)
  t.not(repaired.cert, wider.cert)

  await writeFile(certificateFiles(dir).certFile, 'not a pem')
  t.equal((await ensureCertificate(dir, ['localhost'])).created, true)
})

t.test('a certificate close to expiry does not cover anything', async (t) => {
  const tls = await ensureCertificate(await tempDir(t), ['localhost'])
  t.ok(certificateCovers(tls.cert, ['localhost']))
  t.notOk(certificateCovers(tls.cert, ['localhost'], Date.now() + 825 * 24 * 3600_000))
  t.notOk(certificateCovers(tls.cert, ['other']))
})

t.test('refuses an empty host list with an actionable error', async (t) => {
  await t.rejects(ensureCertificate(await tempDir(t), []), { code: 'DEV_VAULT_NO_HOSTNAMES' })
})
