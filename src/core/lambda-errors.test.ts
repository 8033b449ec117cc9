import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from './errors.js';
import {
  functionErrorDocument,
  LOG_RESULT_BYTES,
  lambdaRefusal,
  logResult,
  refusalBody,
} from './lambda-errors.js';

test('Agni errors become the Lambda exceptions the SDK knows, with their statuses', () => {
  const r = (code: ConstructorParameters<typeof AgniError>[0]) => lambdaRefusal(new AgniError(code, 'm'));
  assert.deepEqual(r('function_not_found'), {
    type: 'ResourceNotFoundException',
    status: 404,
    message: 'm',
    fault: 'User',
  });
  assert.equal(r('payload_too_large').type, 'RequestTooLargeException');
  assert.equal(r('payload_too_large').status, 413);
  assert.equal(r('overloaded').type, 'TooManyRequestsException');
  assert.equal(r('overloaded').status, 429);
  assert.equal(r('bad_request').status, 400);
  assert.equal(r('internal').type, 'ServiceException');
  assert.equal(r('internal').fault, 'Service');
  assert.equal(r('sandbox_error').status, 500);
  assert.equal(r('host_not_allowed').status, 403);
  assert.deepEqual(refusalBody(r('timeout')), { Type: 'Service', message: 'm' });
});

test('a codes ending in _not_found that this table does not know is still a 404 ResourceNotFound', () => {
  const e = new AgniError('not_found', 'm');
  Object.defineProperty(e, 'code', { value: 'alias_not_found' });
  assert.deepEqual([lambdaRefusal(e).type, lambdaRefusal(e).status], ['ResourceNotFoundException', 404]);
});

const base = { id: 'inv_1', function: 'fail', exitCode: 3, stderrTail: '' };

test('a filter that exits non-zero gives an error document from its stderr tail', () => {
  const d = functionErrorDocument(
    { ...base, status: 'failed', stderrTail: 'warming up\nboom: bad input\n\n' },
    1000,
  );
  assert.equal(d?.errorType, 'Runtime.ExitError');
  assert.equal(d?.errorMessage, 'boom: bad input');
  assert.deepEqual(d?.stackTrace, ['warming up', 'boom: bad input', 'exit code 3']);
  const silent = functionErrorDocument({ ...base, status: 'failed' }, 1000);
  assert.equal(silent?.errorMessage, 'fail exited with code 3');
});

test('timeouts and out-of-memory kills read as Lambda words them; success has no document', () => {
  assert.equal(functionErrorDocument({ ...base, status: 'timeout' }, 2500)?.errorType, 'Sandbox.Timedout');
  assert.match(
    functionErrorDocument({ ...base, status: 'timeout' }, 2500)!.errorMessage,
    /after 2\.50 seconds/,
  );
  assert.equal(functionErrorDocument({ ...base, status: 'oom' }, 1)?.errorType, 'Runtime.OutOfMemory');
  assert.equal(functionErrorDocument({ ...base, status: 'succeeded' }, 1), undefined);
  assert.equal(functionErrorDocument({ ...base, status: 'error' }, 1), undefined);
});

test('the log result is START, the log, END and REPORT, cut to the last 4 KB', () => {
  const r = { id: 'inv_1', version: 2, phases: { received: 0, started: 10, finished: 35.5 } };
  const text = Buffer.from(logResult(r, 'hello', 128 * 1024 * 1024), 'base64').toString();
  assert.match(
    text,
    /^START RequestId: inv_1 Version: 2\nhello\nEND RequestId: inv_1\nREPORT RequestId: inv_1\tDuration: 25\.50 ms/,
  );
  assert.match(text, /Memory Size: 128 MB/);
  const long = Buffer.from(logResult(r, 'x'.repeat(10_000), 1), 'base64');
  assert.equal(long.length, LOG_RESULT_BYTES);
  assert.match(long.toString(), /REPORT RequestId: inv_1/);
});
