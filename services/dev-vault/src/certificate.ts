/**
 * dev-vault's TLS certificate: made once, self-signed, kept in a directory so
 * clients can trust the same cert.pem across restarts (KEY_VAULT_CA_FILE).
 * The Key Vault SDK talks only HTTPS to anything but `allowInsecureConnection`.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { generate } from 'selfsigned'
import { CodegateError } from '@codegate/shared/errors'

export interface CertificateFiles {
  certFile: string
  keyFile: string
}

export interface TlsMaterial extends CertificateFiles {
  cert: string
  key: string
  /** False when an existing certificate was reused. */
  created: boolean
}

const VALID_DAYS = 825
// A certificate this close to expiry is replaced at start rather than failing mid-run.
const RENEW_BEFORE_MS = 24 * 3600_000

export function certificateFiles (certDir: string): CertificateFiles {
  return { certFile: join(certDir, 'cert.pem'), keyFile: join(certDir, 'key.pem') }
}

/** The PEM that clients must trust (`tlsOptions: { ca }` on SecretClient). */
export async function readCaPem (certDir: string): Promise<string> {
  return await readFile(certificateFiles(certDir).certFile, 'utf8')
}

/** True when `certPem` is valid for a while yet and names every host (IP entries for addresses). */
export function certificateCovers (certPem: string, hostnames: readonly string[], now = Date.now()): boolean {
  const cert = new X509Certificate(certPem)
  if (Date.parse(cert.validTo) - RENEW_BEFORE_MS < now || Date.parse(cert.validFrom) > now) return false
  return hostnames.every((host) => isIP(host) !== 0
    ? cert.checkIP(host) !== undefined
    // 'never': only the subjectAltName counts, as in browsers and Node's TLS check.
    : cert.checkHost(host, { subject: 'never' }) !== undefined)
}

async function readExisting (files: CertificateFiles, hostnames: readonly string[]): Promise<{ cert: string, key: string } | undefined> {
  let cert: string, key: string
  try {
    [cert, key] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')])
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    if (!certificateCovers(cert, hostnames)) return undefined
    // A key left from another certificate (e.g. an interrupted write) would fail every handshake.
    if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) return undefined
  } catch {
    return undefined // unreadable PEM: make a new pair
  }
  return { cert, key }
}

/** Writes through a temporary file so a reader never sees half a PEM, and the key is 0600 from its first byte. */
async function writeAtomic (file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, data, { mode })
  await rename(tmp, file)
}

/**
 * Reuses cert.pem and key.pem in `certDir` when they cover `hostnames`;
 * otherwise makes a new self-signed pair (EC P-256, SHA-256) naming each host.
 */
export async function ensureCertificate (certDir: string, hostnames: readonly string[]): Promise<TlsMaterial> {
  if (hostnames.length === 0) {
    throw new CodegateError('DEV_VAULT_NO_HOSTNAMES', 'dev-vault needs at least one hostname for its certificate (DEV_VAULT_HOSTNAMES, e.g. localhost,127.0.0.1)')
  }
  const files = certificateFiles(certDir)
  const existing = await readExisting(files, hostnames)
  if (existing !== undefined) return { ...files, ...existing, created: false }

  const notBeforeDate = new Date(Date.now() - 60_000) // tolerate a little clock skew between containers
  const pems = await generate([{ name: 'commonName', value: 'codegate dev-vault' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + VALID_DAYS * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: hostnames.map((host) => isIP(host) !== 0 ? { type: 7 as const, ip: host } : { type: 2 as const, value: host })
      }
    ]
  })
  await mkdir(certDir, { recursive: true, mode: 0o700 })
  await writeAtomic(files.keyFile, pems.private, 0o600)
  await writeAtomic(files.certFile, pems.cert, 0o644)
  return { ...files, cert: pems.cert, key: pems.private, created: true }
}
