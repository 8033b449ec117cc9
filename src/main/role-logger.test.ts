import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const LINES = 2000;
const BOUND = 64 * 1024;

// Makes its stderr non-blocking (process.stderr does) and fills it until the kernel refuses more, so
// nothing the logger writes goes out until the test reads; then logs LINES lines of about 1 KiB
// over 20 turns of the event loop and says so on stdout.
const child = `
import { writeSync } from 'node:fs';
import { roleLogger } from ${JSON.stringify(new URL('./role-logger.js', import.meta.url).href)};
void process.stderr;
try { for (;;) writeSync(2, '\\n'.repeat(65536)); } catch (e) { if (e.code !== 'EAGAIN') throw e; }
const log = roleLogger();
const pad = 'x'.repeat(1000);
for (let i = 0; i < ${LINES}; i++) {
  log.info({ i, pad }, 'line');
  if (i % 100 === 99) await new Promise((r) => setImmediate(r));
}
process.stdout.write('written\\n');
`;

test('roleLogger: past AGNI_LOG_BUFFER, lines for a stderr nobody reads are dropped; one warning counts them once it drains', {
  timeout: 10_000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'agni-role-logger-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // the child's stderr: a unix socket whose far end reads nothing until resumed
  const server = createServer({ pauseOnConnect: true }).listen(join(dir, 'stderr.sock'));
  t.after(() => server.close());
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const writer = connect(join(dir, 'stderr.sock'));
  await once(writer, 'connect');
  const [reader] = (await accepted) as [Socket];

  const proc = spawn(process.execPath, ['--input-type=module', '-e', child], {
    stdio: ['ignore', 'pipe', writer],
    env: { ...process.env, AGNI_LOG_BUFFER: '64Ki', AGNI_LOG_LEVEL: 'info' },
  });
  t.after(() => proc.kill());
  writer.destroy(); // the child has its own copy: the reader ends when the child exits
  const exited = once(proc, 'exit');
  const written = new Promise<void>((resolve) => {
    proc.stdout.on('data', (d) => String(d).includes('written') && resolve());
  });
  await Promise.race([written, exited]);

  let text = '';
  reader.setEncoding('utf8');
  reader.on('data', (d: string) => {
    text += d;
  });
  reader.resume(); // paused on connect: nothing was read until now
  await once(reader, 'end');
  const [code] = await exited;
  assert.equal(code, 0, text.slice(-2000));

  const raw = text.split('\n').filter((l) => l !== '');
  const lines = raw.map(
    (l) => JSON.parse(l) as { level: number; msg: string; i?: number; dropped_lines?: number },
  );
  const kept = lines.filter((l) => l.msg === 'line');
  const warnings = lines.filter((l) => l.dropped_lines !== undefined);
  // what was held for the stuck stderr stayed within the bound: the first lines that fit, the rest dropped
  const keptBytes = raw
    .filter((l) => l.includes('"msg":"line"'))
    .reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  assert.ok(keptBytes <= BOUND && keptBytes > BOUND - 2048, `kept ${keptBytes} bytes`);
  assert.deepEqual(
    kept.map((l) => l.i),
    kept.map((_, i) => i),
  );
  // one warning, after the kept lines, with the count of the others
  assert.equal(warnings.length, 1);
  assert.equal(lines.at(-1), warnings[0]);
  assert.equal(warnings[0]!.level, 40);
  assert.equal(warnings[0]!.dropped_lines, LINES - kept.length);
});

test('roleLogger: a lone line reaches stderr soon, not only when more lines or the exit push it out', {
  timeout: 10_000,
}, async () => {
  const lone = `
import { roleLogger } from ${JSON.stringify(new URL('./role-logger.js', import.meta.url).href)};
roleLogger().info('lone line');
setTimeout(() => {}, 5000);
`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', lone], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, AGNI_LOG_LEVEL: 'info' },
  });
  try {
    const t0 = Date.now();
    let text = '';
    await new Promise<void>((resolve, reject) => {
      proc.stderr.on('data', (d) => {
        text += d;
        if (text.includes('lone line')) resolve();
      });
      proc.once('exit', () => reject(new Error(`exited before the line was seen: ${text}`)));
    });
    // the child lives 5 s; the line came while it did, within a flush or so of its start
    assert.ok(Date.now() - t0 < 4000, `${Date.now() - t0} ms`);
  } finally {
    proc.kill();
  }
});

test('roleLogger: a warning is written at once, so one logged just before a SIGKILL is not lost', {
  timeout: 10_000,
}, async () => {
  // info lines wait for their batch; the warning takes them along. Then the main thread is held
  // (no timer runs, no exit handler ever will) and the process kills itself.
  const dying = `
import { roleLogger } from ${JSON.stringify(new URL('./role-logger.js', import.meta.url).href)};
const log = roleLogger();
log.info('before');
log.warn('last words');
const until = Date.now() + 500;
while (Date.now() < until);
process.kill(process.pid, 'SIGKILL');
`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', dying], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, AGNI_LOG_LEVEL: 'info' },
  });
  let text = '';
  proc.stderr.on('data', (d) => {
    text += d;
  });
  const [, signal] = (await once(proc, 'exit')) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL');
  assert.match(text, /"msg":"before"[\s\S]*"msg":"last words"/);
});
