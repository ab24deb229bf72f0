import t from 'tap'
import { codeIdOf } from '@codegate/shared/code-hash'
import { appFor, azuriteFor, configFor, hasher, HASH_KEY, insertCode, json, KEY, numberApiFor, tableFor, vaultFor, WHOLE_CODE, type Parts } from './fixtures/parts.js'

const azurite = await azuriteFor(t)
const vault = await vaultFor(t)
const numberApi = await numberApiFor(t)
const parts: Parts = { azurite, vault, numberApi }

t.test('logs never hold a key or any letter of a code; codes appear as codeId, 8 hex characters of their hash', async (t) => {
  const config = configFor(parts, { signinMaxFailures: 2 })
  const { app, logs } = await appFor(t, config)

  const issued = await app.inject({ url: '/api/v1/getcode?subject=dave', headers: { 'x-functions-key': KEY } })
  t.equal(issued.statusCode, 200)
  const { code } = issued.json() as { code: string }
  await insertCode(await tableFor(config), code, { subject: 'dave' })

  // Everything a client could do to get a code or the key into a log line.
  await app.inject({ method: 'POST', url: `/api/v1/signin?code=${code}`, ...json({ code, subject: 'dave' }) })
  await app.inject({ method: 'POST', url: '/api/v1/signin', ...json({ code, subject: 'dave' }) })
  await app.inject({ method: 'POST', url: '/api/v1/signin', ...json({ code, subject: 'dave' }) })
  await app.inject({ method: 'POST', url: '/api/v1/signin', ...json({ code, subject: 'dave' }) })
  await app.inject({ method: 'POST', url: '/api/v1/signin', payload: code, headers: { 'content-type': 'application/json' } })
  await app.inject({ method: 'POST', url: '/api/v1/signin', payload: code, headers: { 'content-type': 'text/plain' } })
  await app.inject({ method: 'POST', url: '/api/v1/signin', ...json({ code: `${code}x` }) })
  await app.inject({ url: `/api/v1/signin/${code}?key=${KEY}`, headers: { authorization: `Bearer ${KEY}`, 'x-functions-key': KEY } })
  await app.inject({ url: `/api/v1/getcode?code=${KEY}&subject=${code}` })

  const text = logs.join('')
  t.notMatch(text, WHOLE_CODE, 'no whole code')
  t.notOk(text.includes(KEY), 'no key')
  t.notOk(text.includes(HASH_KEY), 'no code hash key')
  t.notOk(text.includes(hasher.hash(code)), 'not even the whole hash')
  t.notMatch(text, /maskedCode/, 'no masked code, which showed half its letters')
  const id = codeIdOf(hasher.hash(code))
  t.match(id, /^[0-9a-f]{8}$/)
  const events = logs.map((l) => JSON.parse(l) as Record<string, unknown>)
  t.match(events.find((e) => e.event === 'code.issued'), { codeId: id, subject: 'dave', expiresAt: issued.json().expiresAt })
  t.match(events.find((e) => e.event === 'signin.approved'), { codeId: id, subject: 'dave' })
  t.match(events.find((e) => e.event === 'signin.refused'), { codeId: id, reason: 'consumed' })
  t.match(events.find((e) => e.event === 'signin.locked'), { codeId: id, subject: 'dave' })
  t.ok(events.some((e) => e.msg === 'request completed'), 'request logs are on')
})

t.test('a failed third-party call is logged with its cause, not its key', async (t) => {
  const config = configFor(parts, {}, 'stale-key-not-accepted-anywhere')
  const { app, logs } = await appFor(t, config)
  t.equal((await app.inject('/api/v1/getcode')).statusCode, 502)
  const failed = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.event === 'request.failed')
  t.match(failed, { error: 'third_party_failed', err: { reason: 'unauthorized', upstreamStatus: 401 } })
  t.notOk(logs.join('').includes('stale-key-not-accepted-anywhere'))
})
