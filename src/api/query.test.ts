import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { isAgniError } from '../core/errors.js';
import { InvocationsQuery, parseQuery, wholeNumber, wholeNumberOr } from './query.js';

const refused = (q: unknown, schema: z.ZodType, message: RegExp) =>
  assert.throws(
    () => parseQuery(q, schema),
    (e) => isAgniError(e) && e.code === 'bad_request' && message.test(e.message),
  );

test('limit: absent or empty is the default; text is a whole number in range; else named', () => {
  assert.equal(parseQuery({}, InvocationsQuery).limit, 20);
  assert.equal(parseQuery({ limit: '' }, InvocationsQuery).limit, 20);
  assert.equal(parseQuery({ limit: '7' }, InvocationsQuery).limit, 7);
  for (const bad of ['0', '1001', '2.5', 'ten', ['1', '2']])
    refused({ limit: bad }, InvocationsQuery, /^query `limit`: expected a whole number from 1 to 1000$/);
});

test('an optional whole number stays undefined when absent', () => {
  const q = z.object({ from: wholeNumber(0, 10), wait: wholeNumberOr(0, 60, 0) });
  const none = parseQuery(undefined, q);
  assert.equal(none.from, undefined);
  assert.equal(none.wait, 0);
  assert.deepEqual(parseQuery({ from: '3', wait: '5' }, q), { from: 3, wait: 5 });
  refused({ wait: '61' }, q, /^query `wait`: expected a whole number from 0 to 60$/);
});
