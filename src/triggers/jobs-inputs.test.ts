import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inputNameProblem, lineSpans } from './jobs-inputs.js';

const lines = (s: string) => lineSpans(Buffer.from(s)).map((x) => s.slice(x.offset, x.offset + x.length));

test('each non-blank line is one input, with its own newline', () => {
  assert.deepEqual(lines('a\nbb\nccc\n'), ['a\n', 'bb\n', 'ccc\n']);
  assert.deepEqual(lines('a\nlast'), ['a\n', 'last'], 'a last line without a newline keeps none');
  assert.deepEqual(
    lines('\n\na\n\n \nb\n\n'),
    ['a\n', ' \n', 'b\n'],
    'empty lines are skipped, spaces are content',
  );
  assert.deepEqual(lines('x\r\n\r\ny\r\n'), ['x\r\n', 'y\r\n'], 'CRLF blank lines are blank too');
  assert.deepEqual(lines(''), []);
  assert.deepEqual(lines('\n\n'), []);
});

test('line spans work on raw bytes, not characters', () => {
  const buf = Buffer.from('é\n€uro\n');
  const spans = lineSpans(buf);
  assert.deepEqual(spans, [
    { offset: 0, length: 3 },
    { offset: 3, length: 7 },
  ]);
  assert.equal(buf.subarray(3, 10).toString(), '€uro\n');
});

test('input names stay inside the output directory', () => {
  assert.equal(inputNameProblem('a.txt'), undefined);
  assert.equal(inputNameProblem('data/sub/a b.txt'), undefined);
  assert.equal(inputNameProblem('17'), undefined);
  assert.match(inputNameProblem('')!, /empty/);
  assert.match(inputNameProblem('/etc/passwd')!, /relative/);
  assert.match(inputNameProblem('../x')!, /\.\./);
  assert.match(inputNameProblem('a/../../x')!, /\.\./);
  assert.match(inputNameProblem('a//b')!, /empty/);
  assert.match(inputNameProblem('./a')!, /`\.`/);
  assert.match(inputNameProblem('a\nb')!, /control/);
  assert.match(inputNameProblem('x'.repeat(2000))!, /at most/);
});
