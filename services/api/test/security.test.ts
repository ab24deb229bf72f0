/**
 * Bad input, limits and headers. Storage here points at a closed port: any
 * request that reached the table would answer 503, so a 400/413/415 proves the
 * body was refused before any table access.
 */
import t from 'tap'
import type { ApiConfig } from '../src/config.js'
import { appFor, configFor, vaultFor, type Parts } from './fixtures/parts.js'

const vault = await vaultFor(t)
const DEAD = 'http://127.0.0.1:9/devstoreaccount1'
const parts: Parts = {
  azurite: { connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=${DEAD};TableEndpoint=${DEAD};` } as Parts['azurite'],
  vault,
  numberApi: { url: 'http://127.0.0.1:9/api/RandomNumber' }
}
const deadStorage = (overrides: Partial<ApiConfig> = {}): ApiConfig => configFor(parts, { storageTimeoutMs: 500, ...overrides })

const JSON_TYPE = 'application/json'

/** [what, content type, body]: each must be refused with 400, 413 or 415. */
const corpus: [string, string | undefined, string][] = [
  ['empty object', JSON_TYPE, '{}'],
  ['code a number', JSON_TYPE, '{"code":123}'],
  ['code true', JSON_TYPE, '{"code":true}'],
  ['code null', JSON_TYPE, '{"code":null}'],
  ['code an array', JSON_TYPE, '{"code":["abc-1-def"]}'],
  ['code an operator object', JSON_TYPE, '{"code":{"$ne":""}}'],
  ['code empty', JSON_TYPE, '{"code":""}'],
  ['code too long', JSON_TYPE, `{"code":"${'a'.repeat(17)}"}`],
  ['code long but under the body limit', JSON_TYPE, `{"code":"${'a'.repeat(900)}"}`],
  ['code with accented letters', JSON_TYPE, '{"code":"ábc-1-def"}'],
  ['code with fullwidth digit', JSON_TYPE, '{"code":"abc-１-def"}'],
  ['code with emoji', JSON_TYPE, '{"code":"ab😀-1-def"}'],
  ['code with a NUL', JSON_TYPE, '{"code":"abc-1-de\\u0000"}'],
  ['code with slashes', JSON_TYPE, '{"code":"abc/1/def"}'],
  ['code with backslashes', JSON_TYPE, '{"code":"abc\\\\1\\\\def"}'],
  ['code with #', JSON_TYPE, '{"code":"abc-1-de#"}'],
  ['code with ?', JSON_TYPE, '{"code":"abc-1-de?"}'],
  ['an OData injection', JSON_TYPE, '{"code":"\' or 1 eq 1"}'],
  ['a code followed by an OData injection', JSON_TYPE, '{"code":"abc-1-def\' or 1 eq 1"}'],
  ['number 0', JSON_TYPE, '{"code":"abc-0-def"}'],
  ['number 1001', JSON_TYPE, '{"code":"abc-1001-def"}'],
  ['leading zero', JSON_TYPE, '{"code":"abc-01-def"}'],
  ['trailing space', JSON_TYPE, '{"code":"abc-1-def "}'],
  ['trailing newline', JSON_TYPE, '{"code":"abc-1-def\\n"}'],
  ['an unknown property', JSON_TYPE, '{"code":"abc-1-def","admin":true}'],
  ['__proto__', JSON_TYPE, '{"code":"abc-1-def","__proto__":{"admin":true}}'],
  ['constructor.prototype', JSON_TYPE, '{"code":"abc-1-def","constructor":{"prototype":{"admin":true}}}'],
  ['subject a number', JSON_TYPE, '{"code":"abc-1-def","subject":5}'],
  ['subject null', JSON_TYPE, '{"code":"abc-1-def","subject":null}'],
  ['subject empty', JSON_TYPE, '{"code":"abc-1-def","subject":""}'],
  ['subject with a space', JSON_TYPE, '{"code":"abc-1-def","subject":"a b"}'],
  ['subject unicode', JSON_TYPE, '{"code":"abc-1-def","subject":"zoë"}'],
  ['subject too long', JSON_TYPE, `{"code":"abc-1-def","subject":"${'s'.repeat(129)}"}`],
  ['an array body', JSON_TYPE, '[{"code":"abc-1-def"}]'],
  ['an empty array', JSON_TYPE, '[]'],
  ['null', JSON_TYPE, 'null'],
  ['a JSON string', JSON_TYPE, '"abc-1-def"'],
  ['a JSON number', JSON_TYPE, '42'],
  ['broken JSON', JSON_TYPE, '{"code":"abc-1-def"'],
  ['JavaScript, not JSON', JSON_TYPE, "{code: 'abc-1-def'}"],
  ['an empty JSON body', JSON_TYPE, ''],
  ['a huge string', JSON_TYPE, `{"code":"${'x'.repeat(5000)}"}`],
  ['a body over the global limit', JSON_TYPE, `{"code":"${'x'.repeat(40_000)}"}`],
  ['text/plain', 'text/plain', 'abc-1-def'],
  ['a form', 'application/x-www-form-urlencoded', 'code=abc-1-def'],
  ['multipart', 'multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="code"\r\n\r\nabc-1-def\r\n--x--'],
  ['xml', 'application/xml', '<code>abc-1-def</code>'],
  ['no content type', undefined, '{"code":"abc-1-def"}']
]

t.test('every malformed sign-in is refused with 400, 413 or 415 before the table is touched, never 500', async (t) => {
  const { app } = await appFor(t, deadStorage(), { keyStartWaitMs: 100 })
  for (const [what, type, payload] of corpus) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/signin', payload, headers: type !== undefined ? { 'content-type': type } : {} })
    t.ok([400, 413, 415].includes(res.statusCode), `${what}: ${res.statusCode} ${res.body.slice(0, 120)}`)
    t.match(res.json(), { error: String, message: String }, `${what}: a JSON error`)
  }
  t.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was polluted')
  const control = await app.inject({ method: 'POST', url: '/api/v1/signin', payload: '{"code":"abc-1-def"}', headers: { 'content-type': JSON_TYPE } })
  t.equal(control.statusCode, 503, 'control: a valid body does reach the (dead) table')
})

t.test('the reasons are specific: 413 oversized, 415 not JSON, 400 with the failing field', async (t) => {
  const { app } = await appFor(t, deadStorage(), { keyStartWaitMs: 100 })
  const post = async (payload: string, type = JSON_TYPE): Promise<{ statusCode: number, json: () => { error: string, message: string } }> =>
    await app.inject({ method: 'POST', url: '/api/v1/signin', payload, headers: { 'content-type': type } })

  const big = await post(`{"code":"${'x'.repeat(2000)}"}`)
  t.same([big.statusCode, big.json().error], [413, 'payload_too_large'])
  const text = await post('abc-1-def', 'text/plain')
  t.same([text.statusCode, text.json().error], [415, 'unsupported_media_type'])
  const pattern = await post('{"code":"abc-0-def"}')
  t.same([pattern.statusCode, pattern.json().error], [400, 'invalid_request'])
  t.match(pattern.json().message, /body\/code must match pattern/)
  const extra = await post('{"code":"abc-1-def","x":1}')
  t.match(extra.json().message, /additional properties/)
  const broken = await post('abc-123-def')
  t.same(broken.json(), { error: 'invalid_json', message: 'The body is not valid JSON.' }, 'the body is not echoed')
})

t.test('getcode and signin are rate limited per client: 429 with Retry-After', async (t) => {
  const { app } = await appFor(t, deadStorage({ rateLimitMax: 3, rateLimitWindowMs: 30_000 }), { keyStartWaitMs: 100 })
  const signin = { method: 'POST' as const, url: '/api/v1/signin', payload: '{}', headers: { 'content-type': JSON_TYPE } }
  for (let i = 0; i < 3; i++) t.equal((await app.inject(signin)).statusCode, 400)
  const limited = await app.inject(signin)
  t.equal(limited.statusCode, 429)
  t.equal(limited.headers['retry-after'], '30')
  t.equal(limited.json().error, 'rate_limited')

  for (let i = 0; i < 3; i++) t.not((await app.inject('/api/v1/getcode')).statusCode, 429)
  const getcode = await app.inject('/api/v1/getcode')
  t.equal(getcode.statusCode, 429)
  t.ok(Number(getcode.headers['retry-after']) > 0)

  t.equal((await app.inject({ ...signin, remoteAddress: '198.51.100.7' })).statusCode, 400, 'another client is not limited')
  t.equal((await app.inject('/healthz')).statusCode, 200, 'probes are not limited')
})

t.test('X-Forwarded-For names the client only when TRUST_PROXY is set', async (t) => {
  const request = (ip: string) => ({ method: 'POST' as const, url: '/api/v1/signin', payload: '{}', headers: { 'content-type': JSON_TYPE, 'x-forwarded-for': ip } })

  const trusting = (await appFor(t, deadStorage({ rateLimitMax: 1, trustProxy: ['127.0.0.1'] }), { keyStartWaitMs: 100 })).app
  t.equal((await trusting.inject(request('203.0.113.1'))).statusCode, 400)
  t.equal((await trusting.inject(request('203.0.113.1'))).statusCode, 429)
  t.equal((await trusting.inject(request('203.0.113.2'))).statusCode, 400, 'a different forwarded client has its own budget')

  const direct = (await appFor(t, deadStorage({ rateLimitMax: 1, trustProxy: [] }), { keyStartWaitMs: 100 })).app
  t.equal((await direct.inject(request('203.0.113.1'))).statusCode, 400)
  t.equal((await direct.inject(request('203.0.113.2'))).statusCode, 429, 'a forged header does not buy a new budget')
})

t.test('behind one proxy, a client cannot buy a new budget by prepending to X-Forwarded-For', async (t) => {
  // The ingress appends the address it saw; whatever the client sent comes before it.
  const request = (forwarded: string) => ({ method: 'POST' as const, url: '/api/v1/signin', payload: '{}', headers: { 'content-type': JSON_TYPE, 'x-forwarded-for': forwarded } })
  const app = (await appFor(t, deadStorage({ rateLimitMax: 1, trustProxy: ['127.0.0.1'] }), { keyStartWaitMs: 100 })).app
  t.equal((await app.inject(request('198.51.100.9, 203.0.113.1'))).statusCode, 400)
  t.equal((await app.inject(request('198.51.100.10, 203.0.113.1'))).statusCode, 429, 'the forged left entry is ignored')
})

t.test('security headers are set; /docs serves swagger-ui under its own CSP', async (t) => {
  const { app } = await appFor(t, deadStorage(), { keyStartWaitMs: 100 })
  const home = await app.inject('/')
  t.equal(home.statusCode, 200)
  t.match(home.headers['content-type'], /text\/html/)
  t.match(home.body, /href="\/docs"/)
  t.match(home.body, /\/api\/v1\/getcode: issues a new code on every request/, 'getcode is described, saying what it does')
  t.notMatch(home.body, /href="\/api\/v1\/getcode/, 'but not linked: following links never issues a code')
  t.match(home.headers['content-security-policy'], /default-src 'self'/)
  t.equal(home.headers['x-content-type-options'], 'nosniff')
  t.equal(home.headers['x-frame-options'], 'SAMEORIGIN')
  t.match(home.headers['strict-transport-security'], /max-age=/)

  const docs = await app.inject('/docs')
  t.equal(docs.statusCode, 200)
  t.match(docs.body, /swagger-ui/)
  const csp = String(docs.headers['content-security-policy'])
  t.match(csp, /script-src 'self'/)
  t.notMatch(csp, /upgrade-insecure-requests/, 'works over plain http')
  for (const asset of ['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/static/swagger-ui.css']) {
    t.equal((await app.inject(asset)).statusCode, 200, asset)
  }
  t.notMatch(docs.body, /<script>[^<]/, 'no inline script that the CSP would block')
})

t.test('the OpenAPI document describes every route with its responses', async (t) => {
  const { app } = await appFor(t, deadStorage(), { keyStartWaitMs: 100 })
  const res = await app.inject('/docs/json')
  t.equal(res.statusCode, 200)
  const spec = res.json()
  t.equal(spec.openapi, '3.1.0')
  t.same(Object.keys(spec.paths).sort(), ['/', '/api/v1/getcode', '/api/v1/signin', '/healthz', '/readyz'])
  t.same(Object.keys(spec.paths['/api/v1/getcode'].get.responses).sort(), ['200', '400', '429', '502', '503', '504'])
  t.same(Object.keys(spec.paths['/api/v1/signin'].post.responses).sort(), ['200', '400', '401', '413', '415', '429', '503'])
  t.ok(spec.components.schemas.HttpError, 'the error schema is a named component')
})

t.test('unknown routes get a JSON 404 that does not echo the query', async (t) => {
  const { app } = await appFor(t, deadStorage(), { keyStartWaitMs: 100 })
  const res = await app.inject('/api/v2/getcode?key=s3cret')
  t.equal(res.statusCode, 404)
  t.same(res.json(), { error: 'not_found', message: 'No route GET /api/v2/getcode' })
  const wrongMethod = await app.inject({ method: 'DELETE', url: '/api/v1/signin' })
  t.equal(wrongMethod.statusCode, 404)
  t.equal(wrongMethod.json().error, 'not_found')
})
