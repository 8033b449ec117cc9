/**
 * Files under a volume's directory, read and written by root without following a link: links at
 * the leaf or on the way are refused (even ones pointing inside), special files are refused without
 * hanging, and a link swapped in and out of place by another process while we read never leads
 * off the directory.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createFileInside, openFileInside, writeFileInside } from './inside-dir.js';

async function dirs(t: { after(fn: () => Promise<void>): void }) {
  const base = await mkdtemp(join(tmpdir(), 'agni-inside-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const top = join(base, 'vol');
  const outside = join(base, 'outside');
  mkdirSync(join(top, 'a', 'b'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(top, 'a', 'b', 'f.txt'), 'inside');
  writeFileSync(join(outside, 'f.txt'), 'SECRET');
  return { top, outside };
}

async function read(top: string, rel: string): Promise<string> {
  const fh = await openFileInside(top, rel, `input v:/${rel}`);
  try {
    return (await fh.readFile()).toString();
  } finally {
    await fh.close();
  }
}

test('a regular file is read; a link anywhere on the way, a special file or `..` is refused', async (t) => {
  const { top, outside } = await dirs(t);
  assert.equal(await read(top, 'a/b/f.txt'), 'inside');
  assert.equal(await read(top, '/a//b/f.txt'), 'inside', 'extra slashes are no escape');
  symlinkSync(join(outside, 'f.txt'), join(top, 'leaf-out'));
  symlinkSync('b/f.txt', join(top, 'a', 'leaf-in'));
  symlinkSync(outside, join(top, 'dir-out'));
  symlinkSync('a', join(top, 'dir-in'));
  for (const rel of ['leaf-out', 'a/leaf-in', 'dir-out/f.txt', 'dir-in/b/f.txt', 'missing', 'a/b'])
    await assert.rejects(read(top, rel), /is not a file on the volume/, rel);
  for (const rel of ['../outside/f.txt', 'a/../../outside/f.txt', './a/b/f.txt', ''])
    await assert.rejects(read(top, rel), /is not a path inside the volume/, rel);
  execFileSync('mkfifo', [join(top, 'fifo')]);
  await assert.rejects(read(top, 'fifo'), /is not a file on the volume/, 'a FIFO is refused at once');
});

test('a write makes its directories and replaces a link at its place without writing through it', async (t) => {
  const { top, outside } = await dirs(t);
  await writeFileInside(top, 'out/x/y.out', Buffer.from('one'), 'output');
  assert.equal(readFileSync(join(top, 'out', 'x', 'y.out'), 'utf8'), 'one');
  await writeFileInside(top, 'out/x/y.out', Buffer.from('two'), 'output');
  assert.equal(readFileSync(join(top, 'out', 'x', 'y.out'), 'utf8'), 'two', 'replaced whole');
  symlinkSync(join(outside, 'f.txt'), join(top, 'out', 'x', 'link.out'));
  await writeFileInside(top, 'out/x/link.out', Buffer.from('mine'), 'output');
  assert.equal(readFileSync(join(outside, 'f.txt'), 'utf8'), 'SECRET', 'the link’s target is untouched');
  assert.equal(readFileSync(join(top, 'out', 'x', 'link.out'), 'utf8'), 'mine');
  symlinkSync(outside, join(top, 'out', 'esc'));
  await assert.rejects(
    writeFileInside(top, 'out/esc/z.out', Buffer.from('nope'), 'output'),
    /output: a directory on the way is a link or a file/,
  );
  assert.deepEqual(readdirSync(outside), ['f.txt'], 'nothing was written off the volume');
  assert.deepEqual(
    readdirSync(join(top, 'out', 'x')).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary file is left',
  );
});

test('a directory swapped for a link to elsewhere, again and again while we read, never leads off the volume', async (t) => {
  const { top, outside } = await dirs(t);
  mkdirSync(join(top, 'real'));
  writeFileSync(join(top, 'real', 'f.txt'), 'inside');
  mkdirSync(join(top, 'realw'));
  symlinkSync(outside, join(top, 'lnk'));
  symlinkSync(outside, join(top, 'lnkw'));
  // `d` (read) and `e` (written) are the real directory one moment, missing the next, then a link
  // off the volume: what a function that may write to the volume can do while the server checks a
  // path and opens it. Renames, not programs, so the swaps come microseconds apart: against the
  // check-then-open this replaced (realpath, then open the path), the same swaps got the secret
  // read 59 times in 3,000 reads.
  const swapper = spawn(
    'python3',
    [
      '-c',
      `import os, shutil
os.chdir(${JSON.stringify(top)})
def swap(real, lnk, name):
    for a, b in ((real, name), (name, real), (lnk, name), (name, lnk)):
        try:
            os.rename(a, b)
        except OSError:
            if os.path.isdir(name) and not os.path.islink(name):
                shutil.rmtree(name, ignore_errors=True)  # one the write made in a gap
while True:
    swap('real', 'lnk', 'd')
    swap('realw', 'lnkw', 'e')
`,
    ],
    { stdio: 'ignore' },
  );
  const stopped = new Promise((r) => swapper.once('exit', r));
  let inside = 0;
  let written = 0;
  try {
    for (let i = 0; i < 2000; i++) {
      const got = await read(top, 'd/f.txt').catch(() => undefined);
      assert.notEqual(got, 'SECRET', `read ${i} followed the link off the volume`);
      if (got === 'inside') inside++;
      // `e` too, and missing in between: then the write makes it (the loop removes that one).
      if (
        await writeFileInside(top, 'e/w.out', Buffer.from('w'), 'output').then(
          () => true,
          () => false,
        )
      )
        written++;
    }
  } finally {
    // before the directories go: the loop would race their removal
    swapper.kill('SIGKILL');
    await stopped;
  }
  assert.deepEqual(readdirSync(outside), ['f.txt'], 'nothing was written off the volume');
  t.diagnostic(`${inside} of 2000 reads found the real directory in place, ${written} writes went in`);
});

test('a stream is written whole, as a buffer is', async (t) => {
  const { top } = await dirs(t);
  const { Readable } = await import('node:stream');
  const parts = [Buffer.from('a'.repeat(70_000)), Buffer.from('b')];
  await writeFileInside(top, 'deep/er/s.out', Readable.from(parts), 'output');
  assert.deepEqual(readFileSync(join(top, 'deep', 'er', 's.out')), Buffer.concat(parts));
});

test('a write whose source fails leaves no part of a file behind', async (t) => {
  const { top } = await dirs(t);
  const { Readable } = await import('node:stream');
  const failing = Readable.from(
    (async function* () {
      yield Buffer.from('part');
      throw new Error('the source broke');
    })(),
  );
  await assert.rejects(writeFileInside(top, 'o/f.out', failing, 'output'), /the source broke/);
  assert.deepEqual(readdirSync(join(top, 'o')), []);
});

test('a file made piecemeal is seen only once committed, an aborted one leaves nothing, and a link planted on the way meanwhile changes nothing', async (t) => {
  const { top, outside } = await dirs(t);
  const f = await createFileInside(top, 'runs/1/x.out', 'output v:/runs/1/x.out');
  await f.handle.write(Buffer.from('part one, '));
  assert.deepEqual(readdirSync(join(top, 'runs', '1')).length, 1, 'only its temporary file');
  assert.ok(!existsSync(join(top, 'runs', '1', 'x.out')), 'not under its name before the commit');
  // A function that may write to the volume moves the directory away and links elsewhere instead.
  renameSync(join(top, 'runs', '1'), join(top, 'runs', 'moved'));
  symlinkSync(outside, join(top, 'runs', '1'));
  await f.handle.write(Buffer.from('part two'));
  await f.commit();
  assert.equal(readFileSync(join(top, 'runs', 'moved', 'x.out'), 'utf8'), 'part one, part two');
  assert.deepEqual(readdirSync(outside), ['f.txt'], 'nothing was written off the volume');
  assert.deepEqual(readdirSync(join(top, 'runs', 'moved')), ['x.out'], 'no temporary file left');

  const dropped = await createFileInside(top, 'runs/moved/y.out', 'output');
  await dropped.handle.write(Buffer.from('never seen'));
  await dropped.abort();
  assert.deepEqual(readdirSync(join(top, 'runs', 'moved')), ['x.out']);
  await assert.rejects(createFileInside(top, 'runs/1/z.out', 'output v:/runs/1/z.out'), {
    message: 'output v:/runs/1/z.out: a directory on the way is a link or a file',
  });
});

test('a committed file reaches the disk before its name, and its name before the commit returns (fsync of the file, then of its directory)', async (t) => {
  const { top } = await dirs(t);
  // Whether the data were flushed shows only in the system calls: the child is traced, for both
  // ways of writing (through the open handle; through a stream that closed it first).
  const script = `
    const m = await import(${JSON.stringify(new URL('./inside-dir.js', import.meta.url).href)});
    await m.writeFileInside(${JSON.stringify(top)}, 'w/whole.out', Buffer.from('whole'), 'output');
    const f = await m.createFileInside(${JSON.stringify(top)}, 'w/streamed.out', 'output');
    await f.handle.write(Buffer.from('streamed'));
    await f.handle.close();
    await f.commit();`;
  const log = join(top, '..', 'strace.log');
  const child = spawn(
    'strace',
    ['-f', '-y', '-qq', '-o', log, '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', process.execPath],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  child.stdin.end(`${script}\n`);
  const code = await new Promise((res) => child.on('close', res));
  assert.equal(code, 0);
  assert.equal(readFileSync(join(top, 'w', 'whole.out'), 'utf8'), 'whole');
  assert.equal(readFileSync(join(top, 'w', 'streamed.out'), 'utf8'), 'streamed');
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .map((l) => l.replace(/^\d+\s+/, ''))
    .filter((l) => /^(fsync|fdatasync|rename)/.test(l));
  for (const name of ['whole.out', 'streamed.out']) {
    const renamed = calls.findIndex((l) => l.startsWith('rename') && l.includes(`/${name}"`));
    assert.ok(renamed >= 0, `${name} renamed into place: ${calls.join(' | ')}`);
    const tmpSynced = calls.findIndex((l) => /^f(data)?sync\(\d+<[^>]*\.tmp>\)/.test(l) && l.includes(name));
    assert.ok(
      tmpSynced >= 0 && tmpSynced < renamed,
      `${name}: its data synced before the rename: ${calls.join(' | ')}`,
    );
    const dirSynced = calls.findIndex((l, i) => i > renamed && /^fsync\(\d+<[^>]*\/w>\)/.test(l));
    assert.ok(dirSynced > renamed, `${name}: its directory synced after the rename: ${calls.join(' | ')}`);
  }
});

test("a writer that sweeps removes its own temporary files a dead process left, never another writer's", async (t) => {
  const { top } = await dirs(t);
  // Two writers of the same name die mid-write (their handles closed, nothing committed).
  for (const writer of ['inv-a', 'inv-b']) {
    const f = await createFileInside(top, 'o/x.out', 'output', { writer, sweep: false });
    await f.handle.write(Buffer.from(`half of ${writer}`));
    await f.handle.close();
  }
  const other = await createFileInside(top, 'o/x.out.inv-a.out', 'output', { writer: 'inv-c', sweep: false });
  await other.handle.close();
  const before = readdirSync(join(top, 'o')).sort();
  assert.equal(before.length, 3);
  assert.ok(before.every((n) => n.endsWith('.tmp')));
  // Without sweep (a first attempt) nothing is read or removed.
  const first = await createFileInside(top, 'o/y.out', 'output', { writer: 'inv-a', sweep: false });
  await first.abort();
  assert.deepEqual(readdirSync(join(top, 'o')).sort(), before);

  const again = await createFileInside(top, 'o/x.out', 'output', { writer: 'inv-a', sweep: true });
  await again.handle.write(Buffer.from('whole'));
  await again.commit();
  const left = readdirSync(join(top, 'o')).sort();
  assert.equal(readFileSync(join(top, 'o', 'x.out'), 'utf8'), 'whole');
  assert.deepEqual(
    left.filter((n) => n !== 'x.out'),
    before.filter((n) => !/^\.x\.out\.inv-a\.[0-9a-f]{12}\.tmp$/.test(n)),
    "inv-b's file and the other name's stay; inv-a's leftover is gone",
  );
  assert.equal(left.length, 3);
});

test('a name of 255 bytes (the longest a file may have) still gets a temporary file, with its writer in it', async (t) => {
  const { top } = await dirs(t);
  const name = `${'n'.repeat(251)}.out`;
  await writeFileInside(top, `long/${name}`, Buffer.from('x'), 'output', {
    writer: `inv-${'z'.repeat(60)}`,
    sweep: true,
  });
  assert.deepEqual(readdirSync(join(top, 'long')), [name]);
});

test('a FIFO or a link swapped in for the temporary file before the commit fails it at once, and nothing is left', async (t) => {
  const { top, outside } = await dirs(t);
  for (const plant of ['fifo', 'link'] as const) {
    const f = await createFileInside(top, `swap/${plant}.out`, 'output');
    await f.handle.write(Buffer.from('mine'));
    await f.handle.close(); // as the caller's stream does before the commit
    const [tmp] = readdirSync(join(top, 'swap')).filter((n) => n.startsWith(`.${plant}.out.`));
    const path = join(top, 'swap', tmp!);
    (await import('node:fs')).rmSync(path);
    if (plant === 'fifo') execFileSync('mkfifo', [path]);
    else symlinkSync(join(outside, 'f.txt'), path);
    await assert.rejects(f.commit(), plant);
    assert.deepEqual(
      readdirSync(join(top, 'swap')).filter((n) => n.includes(plant)),
      [],
      `${plant}: nothing under its name, nothing left`,
    );
  }
  assert.equal(readFileSync(join(outside, 'f.txt'), 'utf8'), 'SECRET');
});
