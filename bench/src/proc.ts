/**
 * What the kernel says about a process: resident memory (VmRSS, and its peak
 * VmHWM) from /proc/<pid>/status, and CPU time from /proc/<pid>/stat, so a
 * run can tell which process used how much of the machine's two cores.
 */
import { readFileSync } from 'node:fs'

export interface Memory {
  /** Resident set size now, MB. */
  rssMb: number
  /** Peak resident set size since start, MB. */
  peakRssMb: number
}

const TICKS_PER_SECOND = 100

function statusField (status: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)
  return m === null ? Number.NaN : Number(m[1]) / 1024
}

/** Memory of `pid`, or undefined if it is gone (or this is not Linux). */
export function memoryOf (pid: number | undefined): Memory | undefined {
  if (pid === undefined) return undefined
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    return { rssMb: Math.round(statusField(status, 'VmRSS') * 10) / 10, peakRssMb: Math.round(statusField(status, 'VmHWM') * 10) / 10 }
  } catch {
    return undefined
  }
}

/** CPU seconds (user + system) `pid` has used so far; NaN if it is gone. */
export function cpuSecondsOf (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces; the fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return Number.NaN
  }
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpuSeconds (): { busy: number, total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
    const v = line.trim().split(/\s+/).slice(1).map(Number)
    const total = v.reduce((a, b) => a + b, 0)
    const idle = (v[3] ?? 0) + (v[4] ?? 0)
    return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND }
  } catch {
    return { busy: Number.NaN, total: Number.NaN }
  }
}

/**
 * Measures the cores each named process, and the machine as a whole, keeps
 * busy between `start()` and `stop()`. "others" is what the machine spent
 * outside the named processes: other users of a shared machine, and the
 * benchmark's own parent process.
 */
export class CpuMeter {
  #start: Map<string, number> | undefined
  #machine: { busy: number, total: number } | undefined
  #at = 0

  constructor (private readonly pids: () => Record<string, number | undefined>) {}

  start (): void {
    this.#start = this.#sample()
    this.#machine = machineCpuSeconds()
    this.#at = performance.now()
  }

  /** Cores used per process (1.0 = one core busy the whole time), plus `machine` and `others`. */
  stop (): Record<string, number> {
    const seconds = (performance.now() - this.#at) / 1000
    const end = this.#sample()
    const out: Record<string, number> = {}
    let ours = 0
    for (const [name, value] of end) {
      const before = this.#start?.get(name)
      if (before === undefined || !Number.isFinite(value) || !Number.isFinite(before)) continue
      const cores = Math.round((value - before) / seconds * 100) / 100
      out[name] = cores
      ours += cores
    }
    const machine = machineCpuSeconds()
    if (this.#machine !== undefined) {
      const busy = (machine.busy - this.#machine.busy) / seconds
      out.machine = Math.round(busy * 100) / 100
      out.others = Math.round(Math.max(0, busy - ours) * 100) / 100
    }
    return out
  }

  #sample (): Map<string, number> {
    const out = new Map<string, number>()
    for (const [name, pid] of Object.entries(this.pids())) {
      if (pid !== undefined) out.set(name, cpuSecondsOf(pid))
    }
    return out
  }
}
