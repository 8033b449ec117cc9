import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Parser, type ReadEntry } from 'tar';
import { functionUpload, skippedSummary } from './dir-upload.js';

const work = mkdtempSync(join(tmpdir(), 'agni-dir-upload-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function entries(body: NodeJS.ReadableStream): Promise<string[]> {
  const out: string[] = [];
  const p = new Parser({
    onReadEntry: (e: ReadEntry) => {
      out.push(e.type === 'SymbolicLink' ? `${e.path} -> ${e.linkpath}` : e.path);
      e.resume();
    },
  });
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  const done = new Promise((r) => p.on('end', r));
  p.end(Buffer.concat(chunks));
  await done;
  return out;
}

test('defaults, .agniignore (with ! to take a default back), agni.yaml always sent, symlinks as symlinks', async () => {
  const d = join(work, 'fn');
  for (const sub of ['.git', '__pycache__', 'data', 'node_modules/x', 'src/__pycache__'])
    mkdirSync(join(d, sub), { recursive: true });
  for (const f of [
    'agni.yaml',
    '.git/HEAD',
    'data/a',
    'node_modules/x/i.js',
    'src/m.py',
    'src/m.pyc',
    'src/__pycache__/m.pyc',
    'app.log',
  ])
    writeFileSync(join(d, f), 'x');
  writeFileSync(join(d, '.agniignore'), '# comment\ndata/\n*.log\n*.yaml\n');
  symlinkSync('/usr/bin/python3', join(d, 'py'));
  const u = await functionUpload(d);
  assert.deepEqual(u.skipped, ['.git/', '__pycache__/', 'app.log', 'data/', 'src/__pycache__/', 'src/m.pyc']);
  assert.deepEqual(await entries(u.body), [
    '.agniignore',
    'agni.yaml',
    'node_modules/',
    'node_modules/x/',
    'node_modules/x/i.js',
    'py -> /usr/bin/python3',
    'src/',
    'src/m.py',
  ]);
  writeFileSync(join(d, '.agniignore'), '!.git/\n');
  const back = await functionUpload(d);
  assert.deepEqual(back.skipped, ['__pycache__/', 'src/__pycache__/', 'src/m.pyc']);
  assert.ok((await entries(back.body)).includes('.git/HEAD'));
});

test('skippedSummary: one line, capped, empty when nothing was left out', () => {
  assert.equal(skippedSummary({ skipped: [], special: [] }), '');
  assert.equal(
    skippedSummary({ skipped: ['a/', 'b', 'c'], special: ['fifo'] }, 2),
    'skipped 4 (.agniignore and the defaults; sockets, FIFOs and devices are never sent): a/, b, and 2 more\n',
  );
});
