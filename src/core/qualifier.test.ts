import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from './errors.js';
import { aliasNameProblem, formatTarget, parseQualifier, parseTarget } from './qualifier.js';

test('a qualifier is the live version, a version number or an alias', () => {
  for (const s of ['', '$LATEST', 'latest', 'live']) assert.deepEqual(parseQualifier(s), { kind: 'live' });
  assert.deepEqual(parseQualifier('3'), { kind: 'version', version: 3 });
  assert.deepEqual(parseQualifier('120'), { kind: 'version', version: 120 });
  assert.deepEqual(parseQualifier('prod'), { kind: 'alias', alias: 'prod' });
  assert.deepEqual(parseQualifier('canary-2_b'), { kind: 'alias', alias: 'canary-2_b' });
});

test('a bad qualifier is refused naming the field and what is expected', () => {
  for (const s of ['0', '03', '1.5', '-1', 'Prod', '2prod', 'a b', '99999999999999999999', 'x'.repeat(64)]) {
    assert.throws(
      () => parseQualifier(s, 'path `NAME`'),
      (e) => isAgniError(e) && e.code === 'bad_request' && e.message.startsWith('path `NAME`: '),
      s,
    );
  }
});

test('targets split at the first @; the name is checked like a function name', () => {
  assert.deepEqual(parseTarget('wordcount'), { name: 'wordcount', qualifier: { kind: 'live' } });
  assert.deepEqual(parseTarget('wordcount@2'), {
    name: 'wordcount',
    qualifier: { kind: 'version', version: 2 },
  });
  assert.deepEqual(parseTarget('wc@prod'), { name: 'wc', qualifier: { kind: 'alias', alias: 'prod' } });
  assert.deepEqual(parseTarget('wc@$LATEST'), { name: 'wc', qualifier: { kind: 'live' } });
  for (const s of ['', '@3', 'Bad@3', 'a@b@c', 'wc@', 'wc@@1']) {
    if (s === 'wc@') continue; // an empty qualifier is the live version
    assert.throws(() => parseTarget(s, 'field `function`'), /field `function`/, s);
  }
  assert.deepEqual(parseTarget('wc@').qualifier, { kind: 'live' });
});

test('formatTarget is parseTarget backwards', () => {
  for (const s of ['wc', 'wc@7', 'wc@prod']) {
    const t = parseTarget(s);
    assert.equal(formatTarget(t.name, t.qualifier), s);
  }
});

test('the spellings of the live version cannot name an alias', () => {
  for (const a of ['latest', 'live', '$LATEST']) assert.match(aliasNameProblem(a)!, /reserved/);
  assert.equal(aliasNameProblem('prod'), undefined);
  assert.match(aliasNameProblem('3')!, /alias name/);
});
