/**
 * One supervised child process: started with an explicit environment, its
 * output handed over line by line, "ready" only once it answers, and stopped
 * with SIGTERM then SIGKILL after a bound. Exits we asked for (stop, kill)
 * are told apart from crashes.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { CodegateError } from '@codegate/shared/errors'
import { describeReadiness, waitUntilReady, type Readiness } from './readiness.js'

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
  /** True when stop() or kill() asked for this exit; false for a crash. */
  expected: boolean
}

export interface ProcessOptions {
  /** Used in messages and errors, e.g. "api". */
  name: string
  command: string
  args?: string[]
  /** The child's whole environment: nothing is inherited implicitly. */
  env: Record<string, string | undefined>
  cwd?: string
  /** What to wait for before startProcess resolves; omitted: resolve once spawned. */
  ready?: Readiness
  /** Default 60 s: generous, for a loaded 2-core machine. */
  readyTimeoutMs?: number
  /** How long stop() waits after SIGTERM before SIGKILL. Default 10 s. */
  stopTimeoutMs?: number
  /** Each line the child writes, without its line ending. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
  /**
   * Opens an IPC channel to the child (a Node process: its process.send is
   * then defined) and hands over each message it sends, as received: the
   * receiver validates it (e.g. the worker's decodeWorkerEvents). The channel
   * survives the env(1) exec of withNodeOptionsAsGiven: it is an inherited fd
   * named by NODE_CHANNEL_FD.
   */
  onMessage?: (message: unknown) => void
  /** Aborting gives up on startup: the child is killed and startProcess rejects. */
  signal?: AbortSignal
}

export interface ManagedProcess {
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  /** Resolves once the process has exited, however that happened. */
  readonly exited: Promise<ExitInfo>
  readonly running: boolean
  /** SIGTERM, then SIGKILL after `timeoutMs` (default stopTimeoutMs); resolves when it is gone. Idempotent. */
  stop: (timeoutMs?: number) => Promise<ExitInfo>
  /** Sends a signal (default SIGKILL); the exit it causes counts as expected. */
  kill: (signal?: NodeJS.Signals) => void
  /** The last lines of output, for error messages. */
  recentOutput: () => string[]
}

/** The process exited, or never answered, before it was ready. */
export class ProcessStartError extends CodegateError {
  /** The message without the output, for a launcher that has shown the output already. */
  readonly summary: string
  readonly output: string[]
  /** The process that was started and stopped again; -1 when none could be spawned. */
  readonly pid: number

  constructor (message: string, output: string[], options: ErrorOptions & { pid?: number } = {}) {
    const tail = output.length > 0 ? `\n--- last output ---\n${output.join('\n')}` : ''
    super('PROCESS_START_FAILED', message + tail, options)
    this.summary = message
    this.output = output
    this.pid = options.pid ?? -1
  }
}

const KEEP_LINES = 40

// Children still running when this process exits (a thrown error, process.exit,
// an aborted test) are killed, so nothing outlives the launcher holding ports.
const live = new Set<ChildProcess>()
let exitHookInstalled = false

/**
 * An exit hook does not run when this process is killed outright: tap ends a
 * test file past its timeout with SIGALRM, then SIGKILL. So a small detached
 * shell holds the read end of a pipe from this process and learns each child's
 * process group ("+pid", "-pid"); when the pipe closes, however this process
 * ended, it kills the groups still listed. Its own session, so a signal to
 * this process's group does not take it along.
 */
const REAPER_SCRIPT = `
groups=' '
while read -r op pgid; do
  case "$op" in
    +) groups="$groups$pgid " ;;
    -) kept=' '; for g in $groups; do [ "$g" = "$pgid" ] || kept="$kept$g "; done; groups=$kept ;;
  esac
done
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
`
let reaper: ChildProcess | undefined | null

function tellReaper (line: string): void {
  if (process.platform === 'win32') return
  if (reaper === undefined) {
    try {
      // Not a node child: tap would load its coverage loader into it.
      reaper = spawn('/bin/sh', ['-c', REAPER_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true })
      reaper.on('error', () => { reaper = null })
      reaper.stdin?.on('error', () => {})
      reaper.unref()
      // Nothing to keep this process alive for: the pipe only has to close when it ends.
      ;(reaper.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null)?.unref?.()
    } catch {
      reaper = null
    }
  }
  if (reaper === null || reaper.stdin === null || reaper.stdin.destroyed) return
  reaper.stdin.write(line + '\n')
}

/** The pid of the reaper (see tellReaper), once a child has been registered; for tests. */
export function reaperPid (): number | undefined {
  return reaper?.pid
}

/**
 * Kills `child` and its process group if it is still running when this process
 * exits, and also, through the reaper, if this process is killed. `child` must
 * have been spawned `detached` (its pid is its process group).
 */
export function killOnExit (child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', () => { for (const c of live) signalTree(c, 'SIGKILL') })
  }
  const pid = child.pid
  if (pid === undefined) return
  live.add(child)
  tellReaper(`+ ${pid}`)
  child.once('exit', () => {
    live.delete(child)
    tellReaper(`- ${pid}`)
  })
}

/** The child runs in its own process group, so the whole group gets the signal. */
function signalTree (child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(process.platform === 'win32' ? child.pid : -child.pid, signal)
  } catch {
    child.kill(signal)
  }
}

/**
 * spawn()'s command line for running this Node with `args` and NODE_OPTIONS
 * exactly `nodeOptions`. A test runner may patch child_process to put its own
 * loader into the NODE_OPTIONS of every child it did not start itself (tap's
 * @tapjs/processinfo does, to attribute coverage): Azurite and the services
 * then ran that hook on every module they loaded, which doubled Azurite's
 * start-up (1.4 to 2.8 s on Node 24). env(1) sets the variable back as given
 * and execs Node under the same pid, so signals and process groups are
 * unchanged.
 */
export function withNodeOptionsAsGiven (args: string[], nodeOptions: string | undefined): { command: string, args: string[] } {
  const set = nodeOptions === undefined ? ['-u', 'NODE_OPTIONS'] : [`NODE_OPTIONS=${nodeOptions}`]
  return { command: 'env', args: [...set, process.execPath, ...args] }
}

/** "exited with code 1" or "was killed by SIGKILL". */
export function describeExit (exit: { code: number | null, signal: NodeJS.Signals | null }): string {
  return exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${String(exit.code)}`
}

export async function startProcess (options: ProcessOptions): Promise<ManagedProcess> {
  const { name } = options
  const stopTimeoutMs = options.stopTimeoutMs ?? 10_000
  options.signal?.throwIfAborted()

  // detached: a terminal's Ctrl-C reaches only the launcher, which stops the
  // children in order, instead of every child racing to exit at once.
  const { command, args } = options.command === process.execPath
    ? withNodeOptionsAsGiven(options.args ?? [], options.env.NODE_OPTIONS)
    : { command: options.command, args: options.args ?? [] }
  const child = spawn(command, args, {
    env: options.env,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    stdio: options.onMessage !== undefined ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    detached: true
  })
  const onMessage = options.onMessage
  if (onMessage !== undefined) {
    child.on('message', (message) => { onMessage(message) })
    // A child that exits while a send is on its way (EPIPE) is not this process's failure.
    child.on('error', () => {})
  }

  const recent: string[] = []
  for (const stream of ['stdout', 'stderr'] as const) {
    const input = child[stream]
    // Always piped (stdio above); the check is for the type, which cannot see that.
    if (input === null) continue
    createInterface({ input, crlfDelay: Infinity }).on('line', (line) => {
      recent.push(line)
      if (recent.length > KEEP_LINES) recent.shift()
      options.onLine?.(line, stream)
    })
  }

  let expected = false
  let stopping: Promise<ExitInfo> | undefined
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal, expected })
    })
    // Spawning itself failed (e.g. ENOENT): there will be no 'exit'.
    child.once('error', (err) => {
      if (child.pid === undefined) {
        recent.push(`${name}: ${err.message}`)
        resolve({ code: null, signal: null, expected })
      }
    })
  })
  // 'exit' can come before the last lines are read; an error message waits for them (briefly).
  const outputDone = new Promise<void>((resolve) => { child.once('close', () => { resolve() }) })
  const lastOutput = async (): Promise<string[]> => {
    await Promise.race([outputDone, sleep(1000, undefined, { ref: false })])
    return [...recent]
  }
  if (child.pid !== undefined) killOnExit(child)

  const isRunning = (): boolean => child.pid !== undefined && child.exitCode === null && child.signalCode === null

  const handle: ManagedProcess = {
    name,
    pid: child.pid ?? -1,
    child,
    exited,
    get running () { return isRunning() },
    kill (signal = 'SIGKILL') {
      expected = true
      signalTree(child, signal)
    },
    async stop (timeoutMs = stopTimeoutMs) {
      if (stopping !== undefined) return await stopping
      expected = true
      stopping = (async () => {
        if (!isRunning()) return await exited
        signalTree(child, 'SIGTERM')
        const timer = setTimeout(() => { signalTree(child, 'SIGKILL') }, timeoutMs)
        try {
          return await exited
        } finally {
          clearTimeout(timer)
        }
      })()
      return await stopping
    },
    recentOutput: () => [...recent]
  }

  if (options.ready === undefined) {
    if (child.pid === undefined) {
      await exited
      throw new ProcessStartError(`${name} could not be started`, await lastOutput())
    }
    return handle
  }

  // Readiness polling stops as soon as the child exits or the caller aborts.
  const giveUp = new AbortController()
  const onAbort = (): void => { giveUp.abort(options.signal?.reason) }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  void exited.then((exit) => { giveUp.abort(exit) })
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000
  try {
    await waitUntilReady(options.ready, { timeoutMs: readyTimeoutMs, signal: giveUp.signal })
    return handle
  } catch (err) {
    await handle.stop(2000)
    const exit = await exited
    if (options.signal?.aborted === true) throw options.signal.reason
    if (child.pid === undefined) throw new ProcessStartError(`${name} could not be started`, await lastOutput())
    if (!exit.expected) {
      throw new ProcessStartError(`${name} ${describeExit(exit)} before it was ready (${describeReadiness(options.ready)})`, await lastOutput(), { pid: child.pid })
    }
    const why = err instanceof Error ? err.message : `${describeReadiness(options.ready)} did not succeed within ${readyTimeoutMs} ms`
    throw new ProcessStartError(`${name} did not become ready: ${why}`, await lastOutput(), { cause: err, pid: child.pid })
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/** Whether a process with this pid still exists (signal 0 tests without sending). */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export interface ScriptOptions {
  /** Used in messages, e.g. "soak". */
  name: string
  /** The Node script, run with this process's Node (process.execPath). */
  script: string
  args?: string[]
  env: Record<string, string | undefined>
  cwd?: string
  /** The running process, e.g. for a test to stop it in its teardown. */
  onStart?: (proc: ManagedProcess) => void
}

export interface ScriptRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * A Node script run to its end in its own process group (stopped by the
 * reaper if this process dies first), its output collected. Resolves on
 * 'close', not 'exit': the last lines may still be in the pipe at exit.
 */
export async function runScript (options: ScriptOptions): Promise<ScriptRun> {
  let stdout = ''
  let stderr = ''
  const proc = await startProcess({
    name: options.name,
    command: process.execPath,
    args: [options.script, ...(options.args ?? [])],
    env: options.env,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    onLine: (line, stream) => { if (stream === 'stdout') stdout += line + '\n'; else stderr += line + '\n' }
  })
  options.onStart?.(proc)
  const closed = new Promise<void>((resolve) => { proc.child.once('close', () => { resolve() }) })
  const { code, signal } = await proc.exited
  await closed
  return { code, signal, stdout, stderr }
}
