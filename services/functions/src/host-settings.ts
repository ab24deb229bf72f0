/**
 * The queue settings of host.json that the code must agree with: the
 * lifecycle poisons at the same try as the host, and writes base64 as the
 * host decodes it. Read from the file the host reads, so there is one value.
 * Why each value was chosen: README, "Azure Functions".
 */
import { readFileSync } from 'node:fs'

export interface QueueHostSettings {
  messageEncoding: 'base64' | 'none'
  maxDequeueCount: number
  batchSize: number
  newBatchThreshold: number
  maxPollingIntervalMs: number
  visibilityTimeoutSeconds: number
}

export const HOST_JSON_URL = new URL('../host.json', import.meta.url)

/** `hh:mm:ss[.fff]`, the TimeSpan text host.json uses, in milliseconds. */
export function timeSpanMs (text: unknown, name: string): number {
  const m = typeof text === 'string' ? /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(text) : null
  if (m === null) throw new Error(`host.json ${name} is not hh:mm:ss: ${JSON.stringify(text)}`)
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number((m[4] ?? '0').padEnd(3, '0'))
}

export function parseQueueHostSettings (json: string): QueueHostSettings {
  const host = JSON.parse(json) as { extensions?: { queues?: Record<string, unknown> } }
  const q = host.extensions?.queues ?? {}
  const int = (name: string): number => {
    const value = q[name]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new Error(`host.json extensions.queues.${name} must be set to a positive integer`)
    return value
  }
  if (q.messageEncoding !== 'base64' && q.messageEncoding !== 'none') throw new Error('host.json extensions.queues.messageEncoding must be base64 or none')
  return {
    messageEncoding: q.messageEncoding,
    maxDequeueCount: int('maxDequeueCount'),
    batchSize: int('batchSize'),
    newBatchThreshold: int('newBatchThreshold'),
    maxPollingIntervalMs: timeSpanMs(q.maxPollingInterval, 'extensions.queues.maxPollingInterval'),
    visibilityTimeoutSeconds: timeSpanMs(q.visibilityTimeout, 'extensions.queues.visibilityTimeout') / 1000
  }
}

export function readQueueHostSettings (url: URL = HOST_JSON_URL): QueueHostSettings {
  return parseQueueHostSettings(readFileSync(url, 'utf8'))
}
