import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { checkDistinctNames, expandInputs, globBase, inputName } from './map-inputs.js';

function tree(): string {
  const d = tempDir('agni-inputs-');
  mkdirSync(join(d, 'data/sub'), { recursive: true });
  mkdirSync(join(d, 'empty'));
  for (const f of ['data/b.txt', 'data/a.txt', 'data/c.csv', 'data/sub/d.txt', 'top.txt'])
    writeFileSync(join(d, f), f);
  symlinkSync(join(d, 'top.txt'), join(d, 'data/link.txt'));
  return d;
}

const names = (cwd: string, args: string[]) => {
  const r = expandInputs(args, cwd, true);
  assert.equal(r.kind, 'files');
  return r.kind === 'files' ? r.files.map((f) => f.name) : [];
};

test('files keep the order given and their own name; a directory gives its regular files sorted', () => {
  const d = tree();
  assert.deepEqual(names(d, ['top.txt', 'data/b.txt']), ['top.txt', 'b.txt']);
  assert.deepEqual(
    names(d, ['data']),
    ['a.txt', 'b.txt', 'c.csv', 'link.txt'],
    'subdirectories are not inputs; a symlink to a file is',
  );
  const r = expandInputs(['./data/../top.txt'], d, true);
  assert.deepEqual(r.kind === 'files' && r.files[0], { name: 'top.txt', path: join(d, 'top.txt') });
});

test('globs are expanded by agni, sorted, named below their fixed leading part', () => {
  const d = tree();
  assert.deepEqual(names(d, ['data/*.txt']), ['a.txt', 'b.txt', 'link.txt']);
  assert.deepEqual(names(d, ['data/**/*.txt']), ['a.txt', 'b.txt', 'link.txt', 'sub/d.txt']);
  assert.deepEqual(names(d, ['**/{c,d}.*']), ['data/c.csv', 'data/sub/d.txt']);
  const elsewhere = join(d, 'empty');
  assert.deepEqual(names(elsewhere, ['../data/**/*.txt']), ['a.txt', 'b.txt', 'link.txt', 'sub/d.txt']);
  assert.deepEqual(names(elsewhere, [join(d, 'data')]), ['a.txt', 'b.txt', 'c.csv', 'link.txt']);
  assert.equal(inputName('/x/y/z.txt', '/x'), 'y/z.txt');
  assert.equal(globBase('data/**/*.txt', '/w'), '/w/data');
  assert.equal(globBase('/abs/x/*.txt', '/w'), '/abs/x');
  assert.equal(globBase('*.txt', '/w'), '/w');
});

test('what does not exist or matches nothing is named in the error', () => {
  const d = tree();
  assert.throws(
    () => expandInputs(['data/a.txt', 'nope.txt'], d, true),
    /input nope\.txt: no such file or directory/,
  );
  assert.throws(
    () => expandInputs(['data/*.json'], d, true),
    /input data\/\*\.json: the glob matches no file/,
  );
  assert.throws(() => expandInputs(['empty'], d, true), /input empty: the directory has no regular files/);
  assert.throws(() => expandInputs(['/dev/null'], d, true), /input \/dev\/null: not a regular file/);
  assert.throws(() => expandInputs(['-', 'top.txt'], d, false), /cannot be mixed/);
});

test('no inputs means stdin lines, but only when stdin is not a terminal', () => {
  const d = tree();
  assert.deepEqual(expandInputs([], d, false), { kind: 'stdin' });
  assert.deepEqual(expandInputs(['-'], d, false), { kind: 'stdin' });
  assert.throws(() => expandInputs([], d, true), /no inputs/);
});

test('with --out two inputs may not share a name', () => {
  const d = tree();
  const r = expandInputs(['data/a.txt', 'data/b.txt'], d, true);
  assert.doesNotThrow(() => r.kind === 'files' && checkDistinctNames(r.files));
  const clash = expandInputs(['top.txt', 'data/b.txt', 'data/sub/../../top.txt'], d, true);
  assert.throws(
    () => clash.kind === 'files' && checkDistinctNames(clash.files),
    /inputs .*top\.txt and .*top\.txt would both write top\.txt\.out/,
  );
});
