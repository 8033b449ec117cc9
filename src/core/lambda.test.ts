import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from './errors.js';
import { errorDocument, eventHeaders, lambdaEnv, regionOf, routeOf, traceId } from './lambda.js';

test('routes of the Runtime API, with the method each takes', () => {
  assert.deepEqual(routeOf('GET', '/2018-06-01/runtime/invocation/next'), { kind: 'next' });
  assert.deepEqual(routeOf('POST', '/2018-06-01/runtime/invocation/inv-1/response'), {
    kind: 'response',
    id: 'inv-1',
  });
  assert.deepEqual(routeOf('POST', '/2018-06-01/runtime/invocation/inv-1/error?x=1'), {
    kind: 'error',
    id: 'inv-1',
  });
  assert.deepEqual(routeOf('POST', '/2018-06-01/runtime/init/error'), { kind: 'init-error' });
  assert.deepEqual(routeOf('POST', '/2018-06-01/runtime/invocation/next'), { kind: 'method', allow: 'GET' });
  assert.deepEqual(routeOf('GET', '/2018-06-01/runtime/invocation/x/response'), {
    kind: 'method',
    allow: 'POST',
  });
  assert.deepEqual(routeOf('GET', '/2018-06-01/runtime/invocation/a/b/response'), { kind: 'not-found' });
  assert.deepEqual(routeOf('GET', '/'), { kind: 'not-found' });
});

test('an error document: JSON kept, the header’s type wins, text wrapped', () => {
  const doc = errorDocument(
    Buffer.from('{"errorMessage":"m","errorType":"E","stackTrace":["a"]}'),
    undefined,
  );
  assert.equal(doc.errorType, 'E');
  assert.deepEqual(JSON.parse(doc.body.toString()), { errorMessage: 'm', errorType: 'E', stackTrace: ['a'] });
  assert.equal(errorDocument(Buffer.from('{"errorMessage":"m","errorType":"E"}'), 'H').errorType, 'H');
  const text = errorDocument(Buffer.from('plain failure'), undefined);
  assert.deepEqual(JSON.parse(text.body.toString()), {
    errorMessage: 'plain failure',
    errorType: 'Unhandled',
  });
  assert.equal(JSON.parse(errorDocument(Buffer.from('[1]'), 'T').body.toString()).errorMessage, '[1]');
});

test('the environment and event headers a custom runtime reads', () => {
  const env = lambdaEnv({
    fn: 'f',
    version: 3,
    memoryBytes: 128 * 1024 * 1024,
    handler: 'function.handler',
    region: 'eu-west-1',
    worker: 'w1',
    now: Date.UTC(2026, 0, 2),
  });
  assert.equal(env.AWS_LAMBDA_RUNTIME_API, '127.0.0.1:9001');
  assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '128');
  assert.equal(env._HANDLER, 'function.handler');
  assert.equal(env.LAMBDA_TASK_ROOT, '/fn');
  assert.equal(env.AWS_REGION, 'eu-west-1');
  assert.equal(env.AWS_LAMBDA_LOG_STREAM_NAME, '2026/01/02/[3]w1');
  const h = eventHeaders({ id: 'inv-1', deadline: 12.7, arn: 'arn', trace: 't' });
  assert.equal(h['lambda-runtime-deadline-ms'], '12');
  assert.equal(h['lambda-runtime-client-context'], undefined, 'only when the caller sent one');
  const withCtx = eventHeaders({
    id: 'i',
    deadline: 1,
    arn: 'a',
    trace: 't',
    caller: { clientContext: '{"custom":{"k":"v"}}', cognitoIdentity: 'x\r\nInjected: 1' },
  });
  assert.equal(withCtx['lambda-runtime-client-context'], '{"custom":{"k":"v"}}');
  assert.equal(
    withCtx['lambda-runtime-cognito-identity'],
    undefined,
    'a value with a line break is left out',
  );
  assert.match(
    traceId(Date.UTC(2026, 0, 1), Buffer.alloc(20, 0xab)),
    /^Root=1-[0-9a-f]{8}-(ab){12};Parent=(ab){8};Sampled=0$/,
  );
});

test('--lambda-region: a region name or the default', () => {
  assert.equal(regionOf(undefined), 'us-east-1');
  assert.equal(regionOf('ap-southeast-2'), 'ap-southeast-2');
  assert.throws(
    () => regionOf('Not A Region'),
    (e: unknown) => e instanceof AgniError && e.code === 'bad_request' && /--lambda-region/.test(e.message),
  );
});
