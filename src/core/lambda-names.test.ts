import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from './errors.js';
import { parseLambdaTarget } from './lambda-names.js';

test('a function is named by NAME, NAME:QUALIFIER, a partial or a full ARN', () => {
  assert.deepEqual(parseLambdaTarget('wordcount'), { name: 'wordcount' });
  assert.deepEqual(parseLambdaTarget('wordcount:3'), { name: 'wordcount', qualifier: '3' });
  assert.deepEqual(parseLambdaTarget('wordcount:$LATEST'), { name: 'wordcount', qualifier: '$LATEST' });
  assert.deepEqual(parseLambdaTarget('123456789012:function:wordcount:prod'), {
    name: 'wordcount',
    qualifier: 'prod',
  });
  assert.deepEqual(parseLambdaTarget('arn:aws:lambda:eu-west-1:123456789012:function:wordcount'), {
    name: 'wordcount',
  });
  assert.deepEqual(parseLambdaTarget('arn:aws:lambda:eu-west-1:123456789012:function:wordcount:2'), {
    name: 'wordcount',
    qualifier: '2',
  });
});

test('the Qualifier parameter is used, and must agree with one in the name', () => {
  assert.deepEqual(parseLambdaTarget('wordcount', '4'), { name: 'wordcount', qualifier: '4' });
  assert.deepEqual(parseLambdaTarget('wordcount:4', '4'), { name: 'wordcount', qualifier: '4' });
  assert.deepEqual(parseLambdaTarget('wordcount', ''), { name: 'wordcount' });
  assert.throws(
    () => parseLambdaTarget('wordcount:4', '5'),
    (e) => isAgniError(e) && e.code === 'bad_request' && e.details?.field === 'Qualifier',
  );
});

test('malformed names and qualifiers are refused naming the field', () => {
  for (const bad of [
    'arn:aws:s3:::bucket',
    'arn:aws:lambda:r:1:layer:x',
    'a:b:c',
    'Upper',
    '',
    '1:function:x:y:z',
    'x:bad qualifier',
  ]) {
    assert.throws(
      () => parseLambdaTarget(bad),
      (e) => isAgniError(e) && e.code === 'bad_request' && e.details?.field === 'FunctionName',
      bad,
    );
  }
  assert.throws(
    () => parseLambdaTarget('x', 'no/slash'),
    (e) => isAgniError(e) && e.details?.field === 'Qualifier',
  );
});
