/**
 * Waiting for a promise no longer than something else allows: a timer
 * (`withTimeout`) or an abort signal (`untilAborted`). Either way the loser's
 * timer or listener is released, and a promise that settles after nobody waits
 * for it any more cannot become an unhandled rejection.
 */

/**
 * `promise`'s outcome, or `onTimeout()` once `ms` have passed first: its
 * value resolves, what it throws rejects. The timer is cleared as soon as the
 * race is decided, so it never holds the process open.
 */
export async function withTimeout<T, U = never> (promise: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout())
      } catch (err) {
        reject(err)
      }
    }, Math.max(0, ms))
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
    promise.catch(() => {}) // settled after the timeout: nobody waits for it any more
  }
}

/**
 * `promise`'s outcome, or the error `onAbort()` makes as soon as `signal`
 * aborts (at once when it already has). The listener is removed either way.
 */
export async function untilAborted<T> (promise: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  let listener: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    listener = () => { reject(onAbort()) }
    if (signal.aborted) listener()
    else signal.addEventListener('abort', listener, { once: true })
  })
  try {
    // The signal first: when it has already aborted, a settled promise does not win.
    return await Promise.race([aborted, promise])
  } finally {
    if (listener !== undefined) signal.removeEventListener('abort', listener)
    promise.catch(() => {}) // settled after the abort: nobody waits for it any more
  }
}
