import assert from 'node:assert/strict';
import { PassThrough, Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { feedStdin, forwardStdout, onAbort, streamHold } from './stdio.js';

/** A sink that takes nothing until opened: like a sandbox that does not read its stdin yet. */
function slowSink() {
  const got: Buffer[] = [];
  let open = false;
  let pending: (() => void) | undefined;
  const sink = new Writable({
    highWaterMark: 1024,
    write(c: Buffer, _enc, cb) {
      got.push(c);
      if (open) cb();
      else pending = cb;
    },
  });
  return {
    sink,
    got,
    open() {
      open = true;
      pending?.();
    },
  };
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

test('a buffer payload is written and ended at once', async () => {
  const dest = new PassThrough();
  const feed = feedStdin(Buffer.from('abc'), dest);
  assert.equal(feed.bytes, 3);
  assert.equal(dest.read().toString(), 'abc');
  assert.equal(dest.writableEnded, true);
});

test('a stream payload is read only as fast as the sandbox takes it, then ended', async () => {
  let pulled = 0;
  const src = new Readable({
    highWaterMark: 1024,
    read() {
      pulled++;
      this.push(pulled > 100 ? null : Buffer.alloc(1024, 1));
    },
  });
  const { sink, got, open } = slowSink();
  const feed = feedStdin(src, sink);
  await tick();
  assert.ok(pulled < 10, `pulled ${pulled} chunks while the sink was full`);
  open();
  await new Promise((r) => sink.once('finish', r));
  assert.equal(feed.bytes, 100 * 1024);
  assert.equal(Buffer.concat(got).length, 100 * 1024);
});

test('a sandbox that exits early leaves the rest of the stream, paused and open, to its owner', async () => {
  const src = new PassThrough();
  const dest = new PassThrough();
  const feed = feedStdin(src, dest);
  src.write('one');
  await tick();
  dest.destroy(); // the sandbox's stdin closed
  await tick();
  src.write('two');
  await tick();
  assert.equal(feed.bytes, 3);
  assert.equal(src.destroyed, false);
  assert.equal(src.isPaused(), true);
  assert.equal(src.read().toString(), 'two');
  feed.detach(); // safe twice
});

test('a broken source is EOF for the sandbox', async () => {
  const src = new PassThrough();
  src.on('error', () => {}); // the owner's concern
  const dest = new PassThrough();
  feedStdin(src, dest);
  src.destroy(new Error('upload aborted'));
  await tick();
  assert.equal(dest.writableEnded, true);
});

test('stdout is held while the consumer says so, and never again after release', async () => {
  const out = new PassThrough();
  let resolveHold!: () => void;
  const got: string[] = [];
  const fwd = forwardStdout(out, (c) => {
    got.push(c.toString());
    if (got.length === 1) return new Promise<void>((r) => (resolveHold = r));
    return 1; // anything but a promise is ignored
  });
  out.write('a');
  await tick();
  out.write('b');
  await tick();
  assert.deepEqual(got, ['a'], 'held after the first chunk');
  resolveHold();
  await tick();
  assert.deepEqual(got, ['a', 'b']);
  fwd.release();
  out.write('c');
  await tick();
  assert.deepEqual(got, ['a', 'b', 'c']);
});

test('a released hold ignores new holds', async () => {
  const s = new PassThrough();
  s.resume();
  const h = streamHold(s);
  h.release();
  h.hold(new Promise(() => {}));
  assert.equal(s.isPaused(), false);
});

test('onAbort runs at once for an aborted signal, on abort otherwise, and unsubscribes', () => {
  let n = 0;
  const done = new AbortController();
  done.abort();
  onAbort(done.signal, () => n++);
  assert.equal(n, 1);
  const later = new AbortController();
  const off = onAbort(later.signal, () => n++);
  off();
  later.abort();
  assert.equal(n, 1);
  const third = new AbortController();
  onAbort(third.signal, () => n++);
  third.abort();
  assert.equal(n, 2);
  onAbort(undefined, () => n++)();
  assert.equal(n, 2);
});
