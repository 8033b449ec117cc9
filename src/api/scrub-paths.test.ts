import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scrubPaths } from './scrub-paths.js';

test('paths under $AGNI_HOME in an error answer are cut to $AGNI_HOME', () => {
  const body = {
    error: {
      code: 'sandbox_error',
      message: 'stat /srv/agni/functions/nap/v-1: no such file',
      details: { stderr_tail: 'mounting "/srv/agni/functions/nap/v-1" failed' },
    },
  };
  assert.deepEqual(scrubPaths(body, '/srv/agni/'), {
    error: {
      code: 'sandbox_error',
      message: 'stat $AGNI_HOME/functions/nap/v-1: no such file',
      details: { stderr_tail: 'mounting "$AGNI_HOME/functions/nap/v-1" failed' },
    },
  });
  const clean = { error: { code: 'bad_request', message: 'nothing to cut' } };
  assert.equal(scrubPaths(clean, '/srv/agni'), clean);
  assert.equal(scrubPaths(clean, '/'), clean);
});
