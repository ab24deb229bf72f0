import t from 'tap'
import { RestError } from '@azure/data-tables'
import { statusOf } from '../src/errors.js'

t.test('statusOf reads the status an SDK call failed with', async (t) => {
  t.equal(statusOf(new RestError('not found', { statusCode: 404 })), 404)
  t.equal(statusOf({ statusCode: 403, code: 'AuthorizationPermissionMismatch' }), 403, 'any error shaped like one')
})

t.test('statusOf is undefined for a failure without an answer, or no error at all', async (t) => {
  t.equal(statusOf(new RestError('socket hang up', { code: 'ECONNRESET' })), undefined)
  t.equal(statusOf(new Error('timeout')), undefined)
  t.equal(statusOf({ statusCode: '404' }), undefined, 'a status is a number')
  for (const nothing of [undefined, null, 'x', 42]) t.equal(statusOf(nothing), undefined, String(nothing))
})
