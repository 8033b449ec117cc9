import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { buildFunctionLayer, buildRootfsLayer, listTree, normalMode, sourceDate } from './build-layer.js';

const scratch = mkdtempSync(join(tmpdir(), 'agni-build-layer-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const LONG = `${'deep/'.repeat(20)}file-with-a-long-name.txt`;

/** The same function files, written in a different order with different metadata each time. */
function makeFn(dir: string, variant: 'a' | 'b'): string {
  mkdirSync(join(dir, 'lib', 'empty'), { recursive: true });
  mkdirSync(join(dir, LONG, '..'), { recursive: true });
  const files: [string, string][] = [
    ['agni.yaml', 'name: fn\nruntime: busybox\ncommand: ["/fn/run.sh"]\n'],
    ['run.sh', '#!/bin/sh\ncat\n'],
    ['lib/data.txt', 'numbers 1 2 3\n'],
    ['lib/é-unicode.txt', 'accent\n'],
    [LONG, 'far down\n'],
  ];
  for (const [p, text] of variant === 'a' ? files : [...files].reverse()) writeFileSync(join(dir, p), text);
  symlinkSync('lib/data.txt', join(dir, 'data-link'));
  if (variant === 'a') {
    chmodSync(join(dir, 'run.sh'), 0o755);
    chmodSync(join(dir, 'lib/data.txt'), 0o644);
    // a hard link here, a plain copy in the other: same files all the same
    linkSync(join(dir, 'lib/data.txt'), join(dir, 'lib/copy.txt'));
  } else {
    chmodSync(join(dir, 'run.sh'), 0o700);
    chmodSync(join(dir, 'lib/data.txt'), 0o600);
    chmodSync(join(dir, 'lib'), 0o700);
    writeFileSync(join(dir, 'lib/copy.txt'), 'numbers 1 2 3\n');
    chmodSync(join(dir, 'lib/copy.txt'), 0o4640); // setuid dropped, 0644
    for (const p of ['run.sh', 'lib/data.txt', 'lib', LONG, 'agni.yaml']) {
      chownSync(join(dir, p), 1234, 5678);
      utimesSync(join(dir, p), new Date('2021-05-06T07:08:09Z'), new Date('2022-01-02T03:04:05Z'));
    }
  }
  return dir;
}

interface Entry {
  path: string;
  type: string;
  mode: number;
  uid: number | undefined;
  gid: number | undefined;
  uname: string | undefined;
  mtime: number | undefined;
  atime: Date | undefined;
  linkpath: string | undefined;
  body: string;
}

function listTar(tar: Buffer): Promise<Entry[]> {
  return new Promise((resolve, reject) => {
    const out: Entry[] = [];
    const p = new Parser({
      onReadEntry: (e: ReadEntry) => {
        const chunks: Buffer[] = [];
        e.on('data', (c: Buffer) => chunks.push(c));
        e.on('end', () =>
          out.push({
            path: e.path,
            type: e.type,
            mode: e.mode ?? -1,
            uid: e.uid,
            gid: e.gid,
            uname: e.uname,
            mtime: e.mtime?.getTime(),
            atime: e.atime,
            linkpath: e.linkpath,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    });
    p.on('end', () => resolve(out));
    p.on('error', reject);
    p.end(tar);
  });
}

test('the same files give the same layer whatever their mtimes, owners, modes, links and order', async () => {
  const a = makeFn(join(scratch, 'a'), 'a');
  const b = makeFn(join(scratch, 'b'), 'b');
  const la = await buildFunctionLayer(a, join(scratch, 'a.tgz'));
  const lb = await buildFunctionLayer(b, join(scratch, 'b.tgz'));
  assert.equal(la.digest, lb.digest);
  assert.equal(la.diffId, lb.diffId);
  assert.deepEqual(readFileSync(join(scratch, 'a.tgz')), readFileSync(join(scratch, 'b.tgz')));
  const again = await buildFunctionLayer(a, join(scratch, 'a2.tgz'));
  assert.equal(again.digest, la.digest);

  // One byte changed: another layer.
  writeFileSync(join(b, 'lib/data.txt'), 'numbers 1 2 4\n');
  const lc = await buildFunctionLayer(b, join(scratch, 'c.tgz'));
  assert.notEqual(lc.digest, la.digest);
  assert.notEqual(lc.diffId, la.diffId);
  // A mode that matters (x bit) changed: another layer.
  writeFileSync(join(b, 'lib/data.txt'), 'numbers 1 2 3\n');
  chmodSync(join(b, 'lib/copy.txt'), 0o744);
  assert.notEqual((await buildFunctionLayer(b, join(scratch, 'd.tgz'))).digest, la.digest);
});

test('digests, size and gzip header are what they claim', async () => {
  const dir = makeFn(join(scratch, 'h'), 'a');
  const file = join(scratch, 'h.tgz');
  const l = await buildFunctionLayer(dir, file);
  const blob = readFileSync(file);
  assert.equal(l.size, blob.length);
  assert.equal(l.digest, `sha256:${createHash('sha256').update(blob).digest('hex')}`);
  assert.equal(l.diffId, `sha256:${createHash('sha256').update(gunzipSync(blob)).digest('hex')}`);
  assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  // gzip: magic, deflate, no FNAME/FCOMMENT flags, MTIME 0, OS unix
  assert.deepEqual([...blob.subarray(0, 3)], [0x1f, 0x8b, 8]);
  assert.equal(blob[3], 0);
  assert.equal(blob.readUInt32LE(4), 0);
  assert.equal(blob[9], 3);
});

test('entries: sorted under fn/, root-owned, fixed mtime, normalised modes, no atime', async () => {
  const dir = makeFn(join(scratch, 'e'), 'b');
  const file = join(scratch, 'e.tgz');
  const l = await buildFunctionLayer(dir, file, { mtime: sourceDate('1700000000') });
  const entries = await listTar(gunzipSync(readFileSync(file)));
  assert.equal(entries.length, l.entries);
  const paths = entries.map((e) => e.path);
  assert.equal(paths[0], 'fn/');
  const names = paths.map((p) => p.replace(/\/$/, ''));
  assert.deepEqual(
    names,
    [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
  );
  assert.ok(names.includes(`fn/${LONG}`), 'long names survive (pax)');
  assert.ok(names.includes('fn/lib/é-unicode.txt'));
  assert.ok(names.includes('fn/lib/empty'));
  for (const e of entries) {
    assert.ok(e.uid === undefined || e.uid === 0, `${e.path} uid ${e.uid}`);
    assert.ok(e.gid === undefined || e.gid === 0, `${e.path} gid ${e.gid}`);
    assert.ok(!e.uname, `${e.path} uname ${e.uname}`);
    assert.equal(e.atime, undefined, `${e.path} has no atime`);
    assert.equal(e.mtime, 1700000000 * 1000, `${e.path} mtime`);
    assert.ok(e.type !== 'Link', `${e.path} is not a hard link`);
  }
  const byPath = new Map(entries.map((e) => [e.path.replace(/\/$/, ''), e]));
  assert.equal(byPath.get('fn')!.mode, 0o755);
  assert.equal(byPath.get('fn/lib')!.mode, 0o755);
  assert.equal(byPath.get('fn/run.sh')!.mode, 0o755);
  assert.equal(byPath.get('fn/lib/data.txt')!.mode, 0o644);
  assert.equal(byPath.get('fn/lib/copy.txt')!.mode, 0o644);
  assert.equal(byPath.get('fn/lib/copy.txt')!.body, 'numbers 1 2 3\n');
  assert.equal(byPath.get('fn/data-link')!.type, 'SymbolicLink');
  assert.equal(byPath.get('fn/data-link')!.linkpath, 'lib/data.txt');
});

test('listTree is bytewise sorted with parents before children; normalMode', async () => {
  const d = join(scratch, 'sort');
  mkdirSync(join(d, 'a', 'b'), { recursive: true });
  writeFileSync(join(d, 'a-b'), '');
  writeFileSync(join(d, 'a', 'b', 'c'), '');
  writeFileSync(join(d, 'B'), '');
  assert.deepEqual(await listTree(d), ['B', 'a', 'a-b', 'a/b', 'a/b/c']);
  assert.equal(normalMode('File', 0o100), 0o755);
  assert.equal(normalMode('File', 0o4600), 0o644);
  assert.equal(normalMode('Directory', 0o700), 0o755);
});

test('sourceDate: whole seconds, else a clear error', () => {
  assert.equal(sourceDate(undefined).getTime(), 0);
  assert.equal(sourceDate('').getTime(), 0);
  assert.equal(sourceDate('1700000000').getTime(), 1700000000 * 1000);
  assert.throws(() => sourceDate('yesterday'), /SOURCE_DATE_EPOCH "yesterday"/);
  assert.throws(() => sourceDate('1.5'), /whole seconds/);
  assert.throws(() => sourceDate('-3'), /whole seconds/);
});

test('a rootfs layer: files at the top, owners and modes kept, names and mtimes not', async () => {
  const d = join(scratch, 'rootfs');
  mkdirSync(join(d, 'bin'), { recursive: true });
  mkdirSync(join(d, 'home', 'user'), { recursive: true });
  writeFileSync(join(d, 'bin', 'tool'), 'tool\n');
  chmodSync(join(d, 'bin', 'tool'), 0o4711);
  chownSync(join(d, 'home', 'user'), 1000, 1000);
  chmodSync(join(d, 'home', 'user'), 0o700);
  symlinkSync('/bin/tool', join(d, 'bin', 'abs-link'));
  utimesSync(join(d, 'bin', 'tool'), 1_700_000_000, 1_700_000_000);
  const a = await buildRootfsLayer(d, join(scratch, 'rootfs-a.tgz'));
  utimesSync(join(d, 'bin', 'tool'), 1_600_000_000, 1_600_000_000);
  const b = await buildRootfsLayer(d, join(scratch, 'rootfs-b.tgz'));
  assert.equal(a.digest, b.digest, 'mtimes do not change the layer');
  const tar = gunzipSync(readFileSync(join(scratch, 'rootfs-a.tgz')));
  assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, a.diffId);
  const byPath = new Map((await listTar(tar)).map((e) => [e.path.replace(/\/$/, ''), e]));
  assert.deepEqual([...byPath.keys()], ['bin', 'bin/abs-link', 'bin/tool', 'home', 'home/user']);
  assert.equal(byPath.get('bin/tool')!.mode, 0o4711);
  assert.equal(byPath.get('bin/tool')!.mtime, 0);
  assert.equal(byPath.get('home/user')!.uid, 1000);
  assert.equal(byPath.get('home/user')!.mode, 0o700);
  assert.equal(byPath.get('bin/abs-link')!.linkpath, '/bin/tool');
  assert.ok(!byPath.get('home/user')!.uname, 'no user names from the importing host');
});
