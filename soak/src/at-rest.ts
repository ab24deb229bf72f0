/**
 * Proof that no issued code sits in clear at rest: every table entity and
 * every queue and poison-queue message the soak can read, and every file of
 * Azurite's data folder (which holds hidden messages too, and deleted ones
 * until Azurite compacts), is searched for the codes the api gave the soak,
 * as written and inside base64.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** A code anywhere in a text. */
const CODE_IN_TEXT = /[A-Za-z]{3}-(?:[1-9][0-9]{0,2}|1000)-[A-Za-z]{3}/g
/** Runs long enough to be base64 of a JSON envelope or a sample's message. */
const BASE64_RUN = /[A-Za-z0-9+/]{24,}={0,2}/g

export interface AtRestHit {
  /** e.g. `table codes`, `queue code-requests-poison`, `azurite file __queuestorage__/…`. */
  where: string
  code: string
}

export class AtRestScan {
  readonly hits: AtRestHit[] = []
  /** Texts searched (entities, messages, files). */
  scanned = 0

  constructor (private readonly issued: ReadonlySet<string>) {}

  /** Searches one text, and what its base64 runs decode to. */
  text (where: string, text: string): void {
    this.scanned++
    const found = new Set<string>()
    const look = (s: string): void => {
      for (const m of s.matchAll(CODE_IN_TEXT)) if (this.issued.has(m[0])) found.add(m[0])
    }
    look(text)
    for (const run of text.matchAll(BASE64_RUN)) look(Buffer.from(run[0], 'base64').toString('latin1'))
    for (const code of found) this.hits.push({ where, code })
  }

  /** Every file under `dir` (Azurite's --location), read whole. */
  async folder (dir: string, label: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue
      const path = join(entry.parentPath, entry.name)
      let text: string
      try {
        text = (await readFile(path)).toString('latin1')
      } catch {
        continue // removed by Azurite while we looked
      }
      this.text(`${label} ${path.slice(dir.length + 1)}`, text)
    }
  }
}
