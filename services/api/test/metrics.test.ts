/**
 * /metrics on the api and on the worker's health port, scraped over real
 * sockets after known traffic (Azurite, dev-vault, number-api, the api and
 * the worker in process): the counts an operator alerts on add up.
 */
import t from 'tap'
import { createQueues } from '@codegate/shared/clients'
import { startWorker } from '@codegate/worker'
import { appFor, azuriteFor, configFor, KEY, numberApiFor, vaultFor, WHOLE_CODE, workerConfigFor, type Parts } from './fixtures/parts.js'
import { sample } from './fixtures/prometheus.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }


async function scrape (url: string): Promise<string> {
  const res = await fetch(url)
  t.equal(res.status, 200, `${url} answers`)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  return await res.text()
}

t.test('after known traffic, /metrics on the api and the worker count it', async (t) => {
  // Four requests per route per window; the fifth sign-in is rate limited. One failure locks the address.
  // The vault starts with a key the third party refuses.
  const config = configFor(parts, { rateLimitMax: 4, signinMaxFailures: 1, signinLimitsStore: 'memory' }, `${KEY}-wrong`)
  const { app } = await appFor(t, config)
  const api = await app.listen({ host: '127.0.0.1', port: 0 })
  const worker = await startWorker(workerConfigFor(config, { maxBackoffMs: 100 }), { health: true })
  t.teardown(worker.close)

  // A 401, a reload that finds the same key, a 502.
  t.equal((await fetch(`${api}/api/v1/getcode`)).status, 502)
  // The key is fixed in the vault: the cached one gets a 401, is reloaded, and the call is made again.
  vault.store.set(config.secretName, { value: KEY })
  const codes: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${api}/api/v1/getcode`)
    t.equal(res.status, 200)
    codes.push((await res.json() as { code: string }).code)
  }
  // Something no api wrote, straight onto the queue: the worker poisons it.
  await createQueues(config).queue.sendMessage('not a code message')

  // Sign-in waits for the worker to activate the codes (polled, bounded).
  const signIn = async (code: string): Promise<number> => (await fetch(`${api}/api/v1/signin`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code })
  })).status
  const deadline = Date.now() + 20_000
  while (worker.stats.activated < 3 || worker.stats.poisoned < 1) {
    if (Date.now() > deadline) throw new Error(`activated ${worker.stats.activated} of 3, poisoned ${worker.stats.poisoned} of 1`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  t.same([await signIn(codes[0] as string), await signIn('abc-123-xyz'), await signIn(codes[1] as string), await signIn(codes[2] as string), await signIn(codes[2] as string)],
    [200, 401, 429, 429, 429], 'approved, refused, locked twice, rate limited')

  const apiText = await scrape(`${api}/metrics`)
  t.equal(sample(apiText, 'codegate_codes_issued_total'), 3)
  t.equal(sample(apiText, 'codegate_third_party_request_duration_seconds_count', { outcome: 'ok' }), 3)
  t.equal(sample(apiText, 'codegate_third_party_request_duration_seconds_count', { outcome: 'unauthorized' }), 2)
  t.equal(sample(apiText, 'codegate_third_party_failures_total', { reason: 'unauthorized' }), 1)
  t.equal(sample(apiText, 'codegate_key_reloads_total', { result: 'ok' }), 2)
  t.equal(sample(apiText, 'codegate_key_loaded'), 1)
  t.equal(sample(apiText, 'codegate_queue_send_duration_seconds_count', { result: 'ok' }), 3)
  t.same(['approved', 'refused', 'locked', 'rate_limited'].map((outcome) => sample(apiText, 'codegate_signins_total', { outcome, service: 'api' })), [1, 1, 2, 1])
  t.ok((sample(apiText, 'codegate_process_resident_memory_bytes') ?? 0) > 0, 'process metrics, same prefix')

  const workerText = await scrape(`http://127.0.0.1:${String(worker.healthPort)}/metrics`)
  t.equal(sample(workerText, 'codegate_worker_messages_total', { outcome: 'activated', service: 'worker' }), 3)
  t.equal(sample(workerText, 'codegate_activation_lag_seconds_count'), 3)
  t.ok((sample(workerText, 'codegate_activation_lag_seconds_sum') ?? -1) >= 0)
  t.equal(sample(workerText, 'codegate_poison_messages_total', { cause: 'unreadable' }), 1)
  t.equal(sample(workerText, 'codegate_poison_messages_total', { cause: 'exhausted' }), 0, 'zero series exist before the first event')
  t.ok((sample(workerText, 'codegate_worker_receive_batch_messages_count') ?? 0) >= 2, 'receives are measured')
  t.equal(sample(workerText, 'codegate_worker_in_flight_messages'), 0)
  t.ok((sample(workerText, 'codegate_worker_last_poll_age_seconds') ?? -1) >= 0)

  for (const text of [apiText, workerText]) {
    t.notMatch(text, WHOLE_CODE, 'no code in any series')
    t.notOk(text.includes(KEY), 'no key in any series')
  }
})

t.test('METRICS_ENABLED=false leaves /metrics unrouted', async (t) => {
  const { app } = await appFor(t, configFor(parts, { metricsEnabled: false }))
  t.equal((await app.inject('/metrics')).statusCode, 404)
})
