import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from './errors.js';
import { parseLabels } from './node-labels.js';

test('labels: k=v pairs, empty values allowed; bad ones named with the flag', () => {
  assert.deepEqual(parseLabels('site=lab-2, gpu=yes,empty='), { site: 'lab-2', gpu: 'yes', empty: '' });
  assert.deepEqual(parseLabels(''), {});
  for (const [text, re] of [
    ['site', /--labels: "site" is not key=value/],
    ['si te=x', /"si te=x" is not key=value/],
    ['a=b=c', /"a=b=c" is not key=value/],
    ['a=1,a=2', /label a is given twice/],
  ] as const)
    assert.throws(
      () => parseLabels(text),
      (e: unknown) => isAgniError(e) && e.code === 'bad_request' && re.test(e.message),
    );
  assert.throws(() => parseLabels('x', 'AGNI_LABELS'), /AGNI_LABELS: "x"/);
});
