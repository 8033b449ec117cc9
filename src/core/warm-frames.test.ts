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

  test('a worker that asked for env gets a fourth field and KEY=VALUE lines before the payload', () => {
    const b = encodeRequest('i', 7, Buffer.from('pay'), { AGNI_HTTP_METHOD: 'POST', A: 'x=y' });
    assert.equal(b.toString(), 'i 7 3 28\nAGNI_HTTP_METHOD=POST\nA=x=y\npay');
    assert.equal(encodeRequest('i', 7, Buffer.alloc(0), {}).toString(), 'i 7 0 0\n');
    assert.throws(() => encodeRequest('i', 7, Buffer.alloc(0), { A: 'two\nlines' }), /cannot be passed/);
    assert.throws(() => encodeRequest('i', 7, Buffer.alloc(0), { 'A-B': 'x' }), /cannot be passed/);
  });

  test('completion lines: ready with or without counts, done, errors', () => {
    assert.deepEqual(parseCompletionLine('ready'), { type: 'ready', stdout: 0, stderr: 0, features: [] });
    assert.deepEqual(parseCompletionLine('ready 12 3'), {
      type: 'ready',
      stdout: 12,
      stderr: 3,
      features: [],
    });
    // feature words after the counts (or alone): known or not, they are no error
    assert.deepEqual(parseCompletionLine('ready 1 2 env later-thing'), {
      type: 'ready',
      stdout: 1,
      stderr: 2,
      features: ['env', 'later-thing'],
    });
    assert.deepEqual(parseCompletionLine('ready env'), {
      type: 'ready',
      stdout: 0,
      stderr: 0,
      features: ['env'],
    });
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
    for (const bad of [
      '',
      'ready 1',
      'ready 1 2 3',
      'ready Env',
      'inv 0 5',
      'inv x 5 0',
      'inv 0 -1 0',
      'inv 0 05 0',
      'inv 0 1 2 3',
    ])
      assert.equal(parseCompletionLine(bad).type, 'error', bad);
  });

  test('the parser splits lines across chunks and stops at the first bad line', () => {
    const p = new CompletionParser();
    assert.deepEqual(p.push('rea'), []);
    assert.deepEqual(p.push('dy\na 0 1 '), [{ type: 'ready', stdout: 0, stderr: 0, features: [] }]);
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
  test('a worker that asked for mark gets the call’s end mark as the last field', () => {
    const m = `agni-end-${'ab'.repeat(16)}`;
    assert.equal(encodeRequest('i', 7, Buffer.from('p'), {}, m).toString(), `i 7 1 0 ${m}\np`);
    assert.equal(encodeRequest('i', 7, Buffer.alloc(0), undefined, m).toString(), `i 7 0 ${m}\n`);
    assert.throws(() => encodeRequest('i', 7, Buffer.alloc(0), {}, 'agni-end-x y'), /malformed/);
  });

  test('a completion may say `-` for both counts (the call ends at its mark), never for one', () => {
    assert.deepEqual(parseCompletionLine('i 3 - -'), {
      type: 'done',
      id: 'i',
      status: 3,
      stdout: null,
      stderr: null,
    });
    for (const bad of ['i 0 - 0', 'i 0 0 -', 'i 0 -', 'i 0 - - -', 'i - - -'])
      assert.equal(parseCompletionLine(bad).type, 'error', bad);
  });

  test('a marked owner gets everything before its mark, whatever the chunks; the mark is dropped', () => {
    const m = Buffer.from(`agni-end-${'0123456789abcdef'.repeat(2)}`);
    // every way of cutting "out" + mark + "next" into three chunks
    const whole = Buffer.concat([Buffer.from('out\nagni-end-0123'), m, Buffer.from('late')]);
    for (let a = 0; a <= whole.length; a++)
      for (let b = a; b <= whole.length; b += 3) {
        const stray: string[] = [];
        const r = new ByteRouter((c) => stray.push(c.toString()));
        const got: Buffer[] = [];
        let ended = 0;
        r.open(
          (c) => got.push(Buffer.from(c)),
          () => ended++,
          m,
        );
        r.complete(99); // a count is never a marked owner's
        for (const c of [whole.subarray(0, a), whole.subarray(a, b), whole.subarray(b)])
          if (c.length) r.write(c);
        assert.equal(Buffer.concat(got).toString(), 'out\nagni-end-0123', `cut at ${a}, ${b}`);
        assert.equal(ended, 1);
        assert.equal(stray.join(''), 'late', 'what follows the mark is nobody’s');
        assert.equal(r.pending, 0);
      }
  });

  test('a marked owner passes its bytes on as they come, holding back only what may begin the mark', () => {
    const m = Buffer.from(`agni-end-${'f'.repeat(32)}`);
    const r = new ByteRouter();
    const got: string[] = [];
    let ended = false;
    r.open(
      (c) => got.push(c.toString()),
      () => (ended = true),
      m,
    );
    r.write(Buffer.from('hello agni-'));
    assert.deepEqual(got, ['hello '], 'a possible start of the mark waits');
    r.write(Buffer.from('x world'));
    assert.deepEqual(got, ['hello ', 'agni-x world'], 'it was not the mark');
    r.write(Buffer.from(`agni-end-${'f'.repeat(31)}e`));
    assert.equal(ended, false, 'one byte off is no mark');
    r.write(m);
    assert.equal(ended, true);
    assert.equal(got.join(''), `hello agni-x worldagni-end-${'f'.repeat(31)}e`);
  });
});
