import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from '../core/errors.js';
import { invocationQuery } from './invocation-query.js';

test('invocation filters from a query string', () => {
  assert.deepEqual(invocationQuery({}), {});
  assert.deepEqual(invocationQuery({ limit: '5' }), {});
  assert.deepEqual(
    invocationQuery({ function: 'hello', status: 'failed,timeout', since: '1000', until: '' }),
    {
      function: 'hello',
      status: ['failed', 'timeout'],
      since: 1000,
    },
  );
  assert.deepEqual(invocationQuery({ until: '2026-01-01T00:00:00Z' }), { until: Date.UTC(2026, 0, 1) });
});

test('a bad filter names the query field', () => {
  assert.throws(
    () => invocationQuery({ status: 'succeeded,nope' }),
    (e: unknown) => e instanceof AgniError && e.code === 'bad_request' && /`status`.*"nope"/.test(e.message),
  );
  assert.throws(
    () => invocationQuery({ since: 'yesterday' }),
    (e: unknown) => e instanceof AgniError && /`since`/.test(e.message),
  );
});
