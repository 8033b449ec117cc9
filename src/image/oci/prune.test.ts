import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ContentStore, sha256Digest } from './content-store.js';
import { mountedLayerHexes, pruneContent } from './prune.js';
import type { References } from './references.js';

const hex = (d: string) => d.slice('sha256:'.length);

async function fixture() {
  const home = mkdtempSync(join(tmpdir(), 'agni-prune-unit-'));
  const content = new ContentStore(home);
  const keep = await content.putBytes(Buffer.alloc(1000, 1));
  const drop = await content.putBytes(Buffer.alloc(3000, 2));
  const other = await content.putBytes(Buffer.alloc(500, 3));
  const layers = join(home, 'content', 'layers');
  const mkLayer = (name: string, bytes: number) => {
    mkdirSync(join(layers, name, 'bin'), { recursive: true });
    writeFileSync(join(layers, name, 'bin', 'f'), Buffer.alloc(bytes));
  };
  mkLayer(hex(keep), 10);
  mkLayer(hex(drop), 70);
  mkLayer(hex(other), 20);
  mkLayer(`${hex(drop)}.tmp`, 5); // an unpack that crashed
  const ingest = join(home, 'content', 'ingest');
  const partial = sha256Digest(Buffer.from('never finished'));
  writeFileSync(join(ingest, `${hex(partial)}.part`), Buffer.alloc(40));
  const locked = sha256Digest(Buffer.from('downloading now'));
  writeFileSync(join(ingest, `${hex(locked)}.part`), Buffer.alloc(8));
  writeFileSync(join(ingest, `${hex(locked)}.lock`), String(process.pid));
  writeFileSync(join(ingest, `${hex(keep)}.part`), Buffer.alloc(9)); // its blob is whole already
  writeFileSync(join(ingest, 'x.123.abc.tmp'), Buffer.alloc(3));
  const refs: References = { blobs: new Set([keep]), layers: new Set([keep]) };
  return { home, content, keep, drop, other, partial, locked, layers, ingest, refs };
}

const noMounts = async () => '';

test('prune removes unreferenced blobs and layer dirs, keeps referenced ones, reports bytes', async () => {
  const f = await fixture();
  try {
    const dry = await pruneContent({
      home: f.home,
      content: f.content,
      refs: f.refs,
      dryRun: true,
      mountinfo: noMounts,
    });
    assert.ok(existsSync(f.content.path(f.drop)), 'a dry run removes nothing');
    const r = await pruneContent({ home: f.home, content: f.content, refs: f.refs, mountinfo: noMounts });
    assert.deepEqual({ ...dry, dryRun: false }, r, 'a dry run reports what a real run does');
    assert.equal(r.blobs, 2);
    assert.equal(r.blobBytes, 3500);
    assert.equal(r.layerDirs, 2);
    assert.equal(r.layerBytes, 90);
    assert.ok(existsSync(f.content.path(f.keep)));
    assert.ok(!existsSync(f.content.path(f.drop)) && !existsSync(f.content.path(f.other)));
    assert.ok(existsSync(join(f.layers, hex(f.keep))));
    assert.ok(!existsSync(join(f.layers, hex(f.drop))));
    // Young leftovers stay (an unpack or a write may be running); the .part of a whole blob goes.
    assert.ok(existsSync(join(f.layers, `${hex(f.drop)}.tmp`)));
    assert.ok(existsSync(join(f.ingest, 'x.123.abc.tmp')));
    assert.ok(!existsSync(join(f.ingest, `${hex(f.keep)}.part`)));
    assert.equal(r.leftovers, 1);
    assert.equal(r.partialsKept, 1, 'a resumable download is kept without --all');
    assert.equal(r.partialBytesKept, 40);
    assert.equal(r.freedBytes, 3500 + 90 + 9);
  } finally {
    rmSync(f.home, { recursive: true, force: true });
  }
});

test('with all, old leftovers and partial downloads go, but never one whose download is running', async () => {
  const f = await fixture();
  try {
    const old = (Date.now() - 2 * 3600_000) / 1000;
    utimesSync(join(f.layers, `${hex(f.drop)}.tmp`), old, old);
    utimesSync(join(f.ingest, 'x.123.abc.tmp'), old, old);
    const r = await pruneContent({
      home: f.home,
      content: f.content,
      refs: f.refs,
      all: true,
      mountinfo: noMounts,
    });
    assert.ok(!existsSync(join(f.layers, `${hex(f.drop)}.tmp`)));
    assert.ok(!existsSync(join(f.ingest, 'x.123.abc.tmp')));
    assert.ok(!existsSync(join(f.ingest, `${hex(f.partial)}.part`)));
    assert.ok(existsSync(join(f.ingest, `${hex(f.locked)}.part`)), 'this process holds its lock');
    assert.equal(r.leftovers, 4);
    assert.equal(r.leftoverBytes, 5 + 3 + 40 + 9);
    assert.equal(r.partialsKept, 0);
  } finally {
    rmSync(f.home, { recursive: true, force: true });
  }
});

test('only: a removed image frees its own blobs and layers and nothing else', async () => {
  const f = await fixture();
  try {
    const only: References = { blobs: new Set([f.drop, f.keep]), layers: new Set([f.drop, f.keep]) };
    const r = await pruneContent({
      home: f.home,
      content: f.content,
      refs: f.refs,
      only,
      mountinfo: noMounts,
    });
    assert.deepEqual([r.blobs, r.blobBytes, r.layerDirs, r.layerBytes, r.leftovers], [1, 3000, 1, 70, 0]);
    assert.ok(existsSync(f.content.path(f.other)), 'not part of the removed image');
    assert.ok(existsSync(f.content.path(f.keep)), 'still referenced');
    assert.ok(existsSync(join(f.ingest, `${hex(f.keep)}.part`)), 'leftovers are for a full prune');
  } finally {
    rmSync(f.home, { recursive: true, force: true });
  }
});

test('an unreferenced layer that a mounted overlay uses is kept', async () => {
  const f = await fixture();
  try {
    const mountinfo = async () =>
      `100 50 0:60 / /x/merged rw,relatime - overlay overlay rw,lowerdir=${hex(f.other)}:${hex(f.keep)},upperdir=/x/upper,workdir=/x/work\n`;
    const r = await pruneContent({ home: f.home, content: f.content, refs: f.refs, mountinfo });
    assert.equal(r.layerDirsInUse, 1);
    assert.ok(existsSync(join(f.layers, hex(f.other))));
    assert.ok(!existsSync(join(f.layers, hex(f.drop))));
  } finally {
    rmSync(f.home, { recursive: true, force: true });
  }
});

test('mountedLayerHexes reads relative and absolute lowerdirs of overlay mounts only', () => {
  const a = 'a'.repeat(64);
  const b = 'b'.repeat(64);
  const c = 'c'.repeat(64);
  const info = [
    `1 2 0:1 / /m rw - overlay overlay rw,lowerdir=${a}:/h/content/layers/${b},upperdir=/u,workdir=/w`,
    `3 4 0:2 / /d/${c} rw - ext4 /dev/sda1 rw`,
  ].join('\n');
  assert.deepEqual(mountedLayerHexes(info), new Set([a, b]));
});
