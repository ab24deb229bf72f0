/** The original app's timestamp format, written and read. */
import t from 'tap'
import { formatTimestamp, parseTimestamp } from '../src/time.js'

t.test('written as Python\'s str(datetime) in UTC, microseconds included', async (t) => {
  t.equal(formatTimestamp(new Date('2026-12-01T18:30:05.123Z')), '2026-12-01 18:30:05.123000')
})

t.test('read back from that format, from ISO 8601 with a zone, and from the sample\'s microseconds', async (t) => {
  const at = new Date('2026-12-01T18:30:05.123Z')
  t.same(parseTimestamp(formatTimestamp(at)), at)
  t.same(parseTimestamp('2026-12-01 18:30:05.123818'), at, 'microseconds are cut to milliseconds')
  t.same(parseTimestamp('2026-12-01 18:30:05'), new Date('2026-12-01T18:30:05.000Z'), 'no fraction, no zone: UTC')
  t.same(parseTimestamp('2026-12-01T18:30:05'), new Date('2026-12-01T18:30:05.000Z'), 'a T without a zone: UTC too')
  t.same(parseTimestamp('2026-12-01T19:30:05.123+01:00'), at)
})

t.test('anything else is undefined, never an Invalid Date', async (t) => {
  for (const text of ['', 'yesterday', '2026-12-01', '2026-13-45 99:99:99', '2026-12-01T18:30:05+1', '1764613805123']) {
    t.equal(parseTimestamp(text), undefined, JSON.stringify(text))
  }
})
