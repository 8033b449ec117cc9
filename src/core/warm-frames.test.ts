import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ByteRouter, CompletionParser, encodeRequest, MAX_LINE, parseCompletionLine } from './warm-frames.js';

describe('warm frames', () => {
  test('a request is a header line and the payload bytes', () => {
    const b = encodeRequest('inv-1', 1700000000123.7, Buffer.from('a\nb'));
    assert.equal(b.toString(), 'inv-1 1700000000123 3\na\nb');
    assert.equal(encodeRequest('x', 5, Buffer.alloc(0)).toString(), 'x 5 0\n');
    assert.throws(() => encodeRequest('bad id', 0, Buffer.alloc(0)), /not \[/);
    assert.throws(() => encodeRequest('a\n1', 0, Buffer.alloc(0)));
  });

  test('completion lines: ready with or without counts, done, errors', () => {
    assert.deepEqual(parseCompletionLine('ready'), { type: 'ready', stdout: 0, stderr: 0 });
    assert.deepEqual(parseCompletionLine('ready 12 3'), { type: 'ready', stdout: 12, stderr: 3 });
    assert.deepEqual(parseCompletionLine('inv-1 0 5 0'), {
      type: 'done',
      id: 'inv-1',
      status: 0,
      stdout: 5,
      stderr: 0,
    });
    // wc -c style padding and a trailing CR are tolerated
    assert.deepEqual(parseCompletionLine('i 2   7  1\r'), {
      type: 'done',
      id: 'i',
      status: 2,
      stdout: 7,
      stderr: 1,
    });
    for (const bad of ['', 'ready 1', 'inv 0 5', 'inv x 5 0', 'inv 0 -1 0', 'inv 0 05 0', 'inv 0 1 2 3'])
      assert.equal(parseCompletionLine(bad).type, 'error', bad);
  });

  test('the parser splits lines across chunks and stops at the first bad line', () => {
    const p = new CompletionParser();
    assert.deepEqual(p.push('rea'), []);
    assert.deepEqual(p.push('dy\na 0 1 '), [{ type: 'ready', stdout: 0, stderr: 0 }]);
    assert.deepEqual(p.push(Buffer.from('2\nb 1 0 0\n')), [
      { type: 'done', id: 'a', status: 0, stdout: 1, stderr: 2 },
      { type: 'done', id: 'b', status: 1, stdout: 0, stderr: 0 },
    ]);
    const evs = p.push('garbage\nc 0 0 0\n');
    assert.equal(evs.length, 1);
    assert.equal(evs[0]!.type, 'error');
    assert.deepEqual(p.push('d 0 0 0\n'), [], 'a broken stream yields nothing more');
    const long = new CompletionParser().push('x'.repeat(MAX_LINE + 1));
    assert.equal(long[0]?.type, 'error');
  });

  test('the router gives each owner exactly its bytes, in order, across chunk boundaries', () => {
    const r = new ByteRouter();
    let boot = '';
    let one = '';
    let two = '';
    const done: number[] = [];
    r.open(
      (c) => (boot += c),
      () => done.push(0),
    ); // start-up, until `ready 5 ...`
    r.write(Buffer.from('boo'));
    r.complete(5); // ready arrived before the last start-up bytes
    r.open(
      (c) => (one += c),
      () => done.push(1),
    );
    r.write(Buffer.from('t!AB')); // 't!' is start-up's, 'AB' the first call's
    assert.deepEqual(done, [0]);
    r.write(Buffer.from('CD'));
    r.complete(4);
    assert.deepEqual(done, [0, 1]);
    r.open(
      (c) => (two += c),
      () => done.push(2),
    );
    r.complete(0);
    assert.deepEqual(done, [0, 1, 2]);
    assert.deepEqual([boot, one, two], ['boot!', 'ABCD', '']);
    assert.equal(r.pending, 0);
  });

  test('a completion for more bytes than arrived waits for them', () => {
    const r = new ByteRouter();
    let out = '';
    let finished = false;
    r.open(() => {});
    r.complete(0);
    r.open(
      (c) => (out += c),
      () => (finished = true),
    );
    r.complete(3);
    assert.equal(finished, false);
    r.write(Buffer.from('ab'));
    assert.equal(finished, false);
    r.write(Buffer.from('c'));
    assert.equal(finished, true);
    assert.equal(out, 'abc');
  });

  test('bytes with no owner are strays: they never reach a later owner', () => {
    const stray: string[] = [];
    const r = new ByteRouter((c) => stray.push(c.toString()));
    const a: string[] = [];
    const b: string[] = [];
    r.open((c) => a.push(c.toString()));
    r.complete(3);
    r.write(Buffer.from('1234'));
    assert.deepEqual(a, ['123']);
    assert.deepEqual(stray, ['4']);
    r.open((c) => b.push(c.toString()));
    r.write(Buffer.from('56'));
    assert.deepEqual(b, ['56']);
    assert.deepEqual(stray, ['4']);
  });
});
