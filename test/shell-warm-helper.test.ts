/**
 * The POSIX sh warm helper (runtimes/shell/agni-warm.sh) driven over its two protocol pipes by
 * this test, under each shell at hand: every call gets exactly its own environment (multi-byte
 * values too) and payload, whether the shell counts bytes (dash, bash in the C locale) or
 * characters (bash in a UTF-8 locale), and nothing of one call's environment reaches the next;
 * with an end mark per call (the `mark` feature) its output is closed by the mark and nothing is
 * started to count it, and from a platform that sends no mark it is counted as before.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { encodeRequest } from '../src/core/warm-frames.js';
import { tempDir } from './helpers/tmp.js';

const HELPER = resolve('runtimes/shell/agni-warm.sh');

/**
 * `heads`: the `head` programs a run starts, one per payload (an environment is read by the shell,
 * or where `${#}` counts characters by a `dd` that cannot read past it)
 */
const SHELLS: { name: string; argv: string[]; env?: Record<string, string>; heads?: number }[] = [
  { name: 'dash', argv: ['/usr/bin/dash'], heads: 3 },
  { name: 'bash (C locale)', argv: ['/usr/bin/bash'], env: { LC_ALL: 'C' }, heads: 3 },
  { name: 'bash (UTF-8 locale)', argv: ['/usr/bin/bash'], env: { LC_ALL: 'C.UTF-8' }, heads: 3 },
  // its `head` is its own applet, not one from PATH; in a UTF-8 locale it once read past the
  // environment and took the payload with it (the worker hung)
  { name: 'busybox ash', argv: ['/usr/bin/busybox', 'ash'] },
  { name: 'busybox ash (UTF-8 locale)', argv: ['/usr/bin/busybox', 'ash'], env: { LC_ALL: 'C.UTF-8' } },
];

const CALLS: { env?: Record<string, string>; payload: string; want: string }[] = [
  { env: { AGNI_X: 'é日本 a=b', AGNI_Y: 'y' }, payload: 'pay\nload', want: 'é日本 a=b|y|pay\nload' },
  { env: { AGNI_X: 'second' }, payload: '', want: 'second|unset|' },
  { payload: 'p3', want: '|unset|p3' },
  { env: { AGNI_Y: '✓' }, payload: 'é', want: '|✓|é' },
];

const mark = (i: number) => `agni-end-${String(i).repeat(32).slice(0, 32)}`;

for (const sh of SHELLS) {
  for (const marked of [true, false]) {
    test(`sh helper under ${sh.name}${marked ? '' : ', from a platform that sends no mark'}: each call its own environment and payload`, {
      skip: existsSync(sh.argv[0]!) ? false : `${sh.argv[0]} is not installed`,
      timeout: 20_000,
    }, async (t) => {
      const script = `. '${HELPER}'\nhandle() { printf '%s|%s|' "$AGNI_X" "\${AGNI_Y-unset}"; cat; }\nagni_serve handle\n`;
      // a `head` that notes each start, then is the real one
      const bin = tempDir('agni-sh-helper-');
      writeFileSync(join(bin, 'head'), `#!/bin/sh\necho >>'${bin}/heads'\nexec /usr/bin/head "$@"\n`, {
        mode: 0o755,
      });
      writeFileSync(join(bin, 'wc'), `#!/bin/sh\necho >>'${bin}/wcs'\nexec /usr/bin/wc "$@"\n`, {
        mode: 0o755,
      });
      const p = spawn(sh.argv[0]!, [...sh.argv.slice(1), '-c', script], {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
        env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, ...sh.env },
      });
      t.after(() => p.kill('SIGKILL'));
      const stdout: Buffer[] = [];
      let done = '';
      let stderr = '';
      p.stdout!.on('data', (d: Buffer) => stdout.push(d));
      p.stderr!.on('data', (d: Buffer) => {
        stderr += d;
      });
      let heard = () => {};
      (p.stdio[4] as Readable).on('data', (d: Buffer) => {
        done += d;
        heard();
      });
      const lineCount = () => done.split('\n').length - 1;
      const lines = (n: number) =>
        new Promise<void>((resolve) => {
          heard = () => {
            if (lineCount() >= n) resolve();
          };
          heard();
        });
      const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
      const fd3 = p.stdio[3] as Writable;
      // One request at a time, as the platform sends them: a `head` may read past its own frame.
      await lines(1);
      for (const [i, c] of CALLS.entries()) {
        fd3.write(
          encodeRequest(
            `c${i}`,
            Date.now() + 10_000,
            Buffer.from(c.payload),
            c.env ?? {},
            marked ? mark(i) : undefined,
          ),
        );
        await Promise.race([lines(i + 2), exited]);
      }
      fd3.end();
      const code = await exited;
      assert.equal(code, 0, stderr);
      const got = done.trim().split('\n');
      assert.equal(got[0], 'ready 0 0 env mark');
      const out = Buffer.concat(stdout);
      if (marked) {
        assert.equal(
          out.toString(),
          CALLS.map((c, i) => c.want + mark(i)).join(''),
          'each output closed by its mark',
        );
        assert.equal(stderr, CALLS.map((_, i) => mark(i)).join(''), 'stderr too');
        for (const [i] of CALLS.entries()) assert.equal(got[i + 1], `c${i} 0 - -`);
        assert.ok(!existsSync(join(bin, 'wcs')), 'nothing started to count the output');
      }
      if (!marked) {
        let at = 0;
        for (const [i, c] of CALLS.entries()) {
          const [id, status, o, e] = got[i + 1]!.split(/ +/);
          assert.deepEqual([id, status, e], [`c${i}`, '0', '0'], got[i + 1]);
          assert.equal(out.subarray(at, at + Number(o)).toString(), c.want, `call ${i}`);
          at += Number(o);
        }
        assert.equal(at, out.length, 'nothing outside the calls’ counts');
      }
      if (sh.heads !== undefined)
        assert.equal(
          readFileSync(join(bin, 'heads'), 'utf8').length,
          sh.heads,
          'programs started for the frames',
        );
    });
  }
}
