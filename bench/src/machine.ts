/** What the figures were measured on, and how busy the machine was (it may be shared). */
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { cpus, loadavg, release, totalmem, type } from 'node:os'

export interface Machine {
  cpu: string
  cores: number
  memoryGb: number
  os: string
  node: string
  azurite: string
}

export interface Load {
  /** 1, 5 and 15 minute load averages. */
  loadAverage: number[]
  /** `uptime` as printed. */
  uptime: string
}

export function machine (): Machine {
  const require = createRequire(import.meta.url)
  let azurite = 'unknown'
  try {
    azurite = (require('azurite/package.json') as { version: string }).version
  } catch {}
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    azurite
  }
}

export function load (): Load {
  let uptime = ''
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim()
  } catch {}
  return { loadAverage: loadavg().map((x) => Math.round(x * 100) / 100), uptime }
}

/** What a result file says of its run: the command, when, on what machine, how busy it was before and after. */
export interface RunRecord {
  command: string
  startedAt: string
  wallSeconds: number
  machine: Machine
  loadBefore: Load
  loadAfter: Load
}

/** A benchmark run of `npm run <script>` (with this process's arguments), from now on. */
export class BenchRun {
  readonly started = new Date()
  readonly loadBefore = load()

  constructor (readonly script: string) {}

  /** The record of the run, at its end (whole seconds). */
  record (): RunRecord {
    const args = process.argv.slice(2)
    return {
      command: `npm run ${this.script}${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
      startedAt: this.started.toISOString(),
      wallSeconds: Math.round((Date.now() - this.started.getTime()) / 1000),
      machine: machine(),
      loadBefore: this.loadBefore,
      loadAfter: load()
    }
  }
}
