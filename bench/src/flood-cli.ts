/**
 * `npm run bench:flood [-- --messages N] [--out DIR]`
 *
 * The worker under a flood: N activate messages (default 10,000) are stored
 * before the worker starts, so it meets the whole backlog at once. Every
 * second: activations so far, messages in flight and its resident memory.
 * What the worker did comes from its typed events over an IPC channel
 * (bench/src/system.ts eventCounter): in flight is what it received less what
 * it finished, and its highest value is taken at every event. Shows that it holds WORKER_MAX_IN_FLIGHT and that
 * its memory stays flat while it works through the backlog. Writes
 * bench/results/flood.{json,md} (or to --out).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { TableClient } from '@azure/data-tables'
import { createQueues, createTableClient } from '@codegate/shared/clients'
import { repositoryRoot } from '@codegate/stack'
import { fillActivates } from './fill.js'
import { load, machine } from './machine.js'
import { memoryOf } from './proc.js'
import { RECOMMENDED_WORKER_NODE_FLAGS } from './scenarios/memory.js'
import { eventCounter, noWorkerEvents, startSystem, startWorkerProcess, storageConfig } from './system.js'

/** Expiries far past the run: the backlog is activations only (each also stays stored as its hidden expire). */
const TTL_SECONDS = 3600
const MAX_IN_FLIGHT = 64

interface Sample { second: number, activated: number, inFlight: number, rssMb: number | undefined }

/** Rows in the codes table: one per code activated. */
async function countRows (table: TableClient): Promise<number> {
  let rows = 0
  for await (const page of table.listEntities({ queryOptions: { select: ['RowKey'] } }).byPage({ maxPageSize: 1000 })) rows += page.length
  return rows
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '10000' }, out: { type: 'string' }, 'timeout-seconds': { type: 'string', default: '1200' } } })
  const messages = Number(values.messages)
  const outDir = values.out !== undefined ? resolve(values.out) : join(repositoryRoot(), 'bench', 'results')
  const loadBefore = load()
  console.log(`bench:flood ${messages} messages; ${loadBefore.uptime}`)
  const bench = await startSystem({ baseEnv: process.env, workers: 0, ttlSeconds: TTL_SECONDS, nodeFlags: RECOMMENDED_WORKER_NODE_FLAGS })
  // Ctrl-C during a long run still stops Azurite and the services.
  process.once('SIGINT', () => { void bench.stop().finally(() => { process.exit(130) }) })
  try {
    const { queue } = createQueues(storageConfig(bench.connectionString))
    const table = createTableClient(storageConfig(bench.connectionString))
    await queue.createIfNotExists()
    const fillStarted = Date.now()
    await fillActivates(queue, messages, TTL_SECONDS)
    console.log(`stored ${messages} activates in ${((Date.now() - fillStarted) / 1000).toFixed(1)} s`)

    const events = noWorkerEvents()
    // A try that failed (e.g. a storage call past its timeout) is tried again; one whose row and
    // expire were written although the call timed out is not seen again, so the run also ends
    // once every code has its row.
    const worker = await startWorkerProcess('worker', {
      LOG_LEVEL: 'info',
      CODE_TTL_SECONDS: String(TTL_SECONDS),
      STORAGE_CONNECTION_STRING: bench.connectionString,
      WORKER_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT)
    }, RECOMMENDED_WORKER_NODE_FLAGS, eventCounter(events, () => {}), process.env)
    const started = Date.now()
    const samples: Sample[] = []
    const deadline = started + Number(values['timeout-seconds']) * 1000
    let rows = 0
    while (events.activated + events.dropped < messages && rows < messages && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000))
      if (events.inFlight === 0 && Date.now() - events.lastAt > 10_000) rows = await countRows(table)
      const sample = { second: Math.round((Date.now() - started) / 1000), activated: events.activated, inFlight: events.inFlight, rssMb: memoryOf(worker.pid)?.rssMb }
      samples.push(sample)
      if (sample.second % 10 === 0) console.log(`+${sample.second} s  activated ${sample.activated}  in flight ${sample.inFlight}  rss ${sample.rssMb ?? '–'} MB`)
    }
    const seconds = (Date.now() - started) / 1000
    const peak = memoryOf(worker.pid)?.peakRssMb
    await worker.stop()

    const rss = samples.map((s) => s.rssMb).filter((x): x is number => x !== undefined)
    const quarter = Math.max(1, Math.floor(rss.length / 4))
    const mean = (xs: number[]): number => Math.round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length) * 10) / 10
    const result = {
      command: `npm run bench:flood${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      machine: machine(),
      loadBefore,
      loadAfter: load(),
      nodeFlags: RECOMMENDED_WORKER_NODE_FLAGS,
      messages,
      maxInFlightSetting: MAX_IN_FLIGHT,
      activated: events.activated,
      dropped: events.dropped,
      failedTries: events.failed,
      eventsLost: events.lost,
      eventsRejected: events.rejected,
      rows: await countRows(table),
      seconds: Math.round(seconds),
      perSecond: Math.round(events.activated / seconds * 10) / 10,
      maxInFlightSeen: events.maxInFlight,
      rssMb: { first: rss[0], firstQuarterMean: mean(rss.slice(0, quarter)), lastQuarterMean: mean(rss.slice(-quarter)), max: Math.max(...rss), peak },
      samples
    }
    const every = Math.max(1, Math.round(samples.length / 12))
    const md = [
      `\`${result.command}\`: ${messages} activates stored before the worker started (\`WORKER_MAX_IN_FLIGHT=${MAX_IN_FLIGHT}\`, flags \`${RECOMMENDED_WORKER_NODE_FLAGS.join(' ')}\`).`,
      `Load before: \`${loadBefore.uptime}\`; after: \`${result.loadAfter.uptime}\`.`,
      '',
      `Activated ${result.activated} (dropped ${result.dropped}; ${events.failed} tries failed; ${result.rows} code rows at the end) in ${result.seconds} s (${result.perSecond}/s); most in flight seen: ${events.maxInFlight}${events.lost > 0 ? ` (${events.lost} events lost on the channel: counts are short)` : ''}; RSS first ${result.rssMb.first} MB, mean of the first quarter ${result.rssMb.firstQuarterMean} MB, of the last quarter ${result.rssMb.lastQuarterMean} MB, highest sample ${result.rssMb.max} MB, peak (VmHWM) ${peak ?? '–'} MB.`,
      '',
      '| second | activated | in flight | RSS MB |',
      '|---|---|---|---|',
      ...samples.filter((_, i) => i % every === 0 || i === samples.length - 1).map((s) => `| ${s.second} | ${s.activated} | ${s.inFlight} | ${s.rssMb ?? '–'} |`)
    ].join('\n')
    await mkdir(outDir, { recursive: true })
    await writeFile(join(outDir, 'flood.json'), JSON.stringify(result, null, 2) + '\n')
    await writeFile(join(outDir, 'flood.md'), md + '\n')
    console.log(md)
  } finally {
    await bench.stop()
  }
}

main().then(() => { process.exit(0) }, (err: unknown) => {
  console.error(`bench:flood: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  process.exit(1)
})
