/**
 * The benchmark's own child processes (load generator, bare loops, constant
 * server): each is forked, does its setup, says `ready`, then answers `run`
 * requests over the IPC channel. Every measured thing runs in a process of
 * its own and is driven the same way, so none shares a core's event loop
 * with the parent or with what it is compared to.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

type Message =
  | { type: 'ready', info: unknown }
  | { type: 'result', id: number, result: unknown }
  | { type: 'error', id: number | undefined, message: string }

export interface ForkOptions {
  /** The bench CLI's process.env, which the child inherits. */
  baseEnv: Record<string, string | undefined>
  /** Variables of the child's own, over baseEnv. */
  env?: Record<string, string | undefined>
  /** Extra node flags, e.g. --cpu-prof. */
  execArgv?: string[]
  /** How long setup may take before `ready`. */
  readyTimeoutMs?: number
}

export interface Child<Request, Result, Info = unknown> {
  readonly name: string
  readonly pid: number
  /** What the child said when it became ready (e.g. the port it listens on). */
  readonly info: Info
  call: (request: Request, timeoutMs: number) => Promise<Result>
  /** Asks it to exit, then kills it after a bound. Idempotent. */
  stop: () => Promise<void>
}

/** The compiled child script `children/<name>.js` next to this module. */
export function childScript (name: string): string {
  return fileURLToPath(new URL(`./children/${name}.js`, import.meta.url))
}

export async function forkChild<Request, Result, Info = unknown> (name: string, options: ForkOptions): Promise<Child<Request, Result, Info>> {
  const child: ChildProcess = fork(childScript(name), [], {
    env: { ...options.baseEnv, ...options.env },
    execArgv: options.execArgv ?? [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'json'
  })
  const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  let nextId = 1
  let exited = false
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true
      const err = new Error(`${name} exited (${signal ?? String(code)}) with a request pending`)
      for (const p of pending.values()) { clearTimeout(p.timer); p.reject(err) }
      pending.clear()
      resolve()
    })
  })
  const info = await new Promise<Info>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name} was not ready within ${options.readyTimeoutMs ?? 30_000} ms`)) }, options.readyTimeoutMs ?? 30_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with code ${String(code)} before it was ready`)) })
    child.on('message', (message: Message) => {
      if (message.type === 'ready') { clearTimeout(timer); resolve(message.info as Info); return }
      if (message.type === 'error' && message.id === undefined) { clearTimeout(timer); reject(new Error(`${name}: ${message.message}`)); return }
      const id = message.id
      if (id === undefined) return
      const p = pending.get(id)
      if (p === undefined) return
      pending.delete(id)
      clearTimeout(p.timer)
      if (message.type === 'result') p.resolve(message.result)
      else p.reject(new Error(`${name}: ${message.message}`))
    })
  })
  let stopping: Promise<void> | undefined
  return {
    name,
    pid: child.pid ?? -1,
    info,
    async call (request, timeoutMs) {
      if (exited) throw new Error(`${name} is not running`)
      const id = nextId++
      return await new Promise<Result>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${name} did not answer within ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
        child.send({ type: 'run', id, request })
      })
    },
    async stop () {
      stopping ??= (async () => {
        if (exited) return
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        if (child.connected) child.send({ type: 'exit' })
        else child.kill('SIGTERM')
        await exitedPromise
        clearTimeout(timer)
      })()
      await stopping
    }
  }
}

/**
 * The child's side: runs `setup`, reports ready with what it returned, then
 * answers each request with `handle`; exits when asked (after `teardown`).
 */
export function serve<Request, Result, State> (
  setup: () => Promise<{ state: State, info?: unknown }>,
  handle: (request: Request, state: State) => Promise<Result>,
  teardown?: (state: State) => Promise<void>
): void {
  const send = (message: Message): void => { process.send?.(message) }
  setup().then(({ state, info }) => {
    process.on('message', (message: { type: 'run', id: number, request: Request } | { type: 'exit' }) => {
      if (message.type === 'exit') {
        void (teardown?.(state) ?? Promise.resolve()).finally(() => { process.exit(0) })
        return
      }
      handle(message.request, state).then(
        (result) => { send({ type: 'result', id: message.id, result }) },
        (err: unknown) => { send({ type: 'error', id: message.id, message: err instanceof Error ? err.stack ?? err.message : String(err) }) }
      )
    })
    // The parent is gone: nothing will ask for more.
    process.on('disconnect', () => { process.exit(0) })
    send({ type: 'ready', info })
  }, (err: unknown) => {
    send({ type: 'error', id: undefined, message: err instanceof Error ? err.stack ?? err.message : String(err) })
    process.exitCode = 1
    process.disconnect?.()
  })
}
