/**
 * `agni bench sweep` end to end on a tiny shell function that prints JSON metrics: every mode and
 * the bare host on real runc, the tidy CSV and the summary's ratios checked against the CSV's own
 * rows, and a sweep SIGKILLed mid-run and resumed to exactly n rows per cell.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { quantile } from '../src/bench/stats.js';
import { parseSweepCsv, type SweepRow } from '../src/bench/sweep-csv.js';
import type { SweepSummary } from '../src/bench/sweep-summary.js';
import { CLI } from './helpers/agni-up.js';
import { startTestServer } from './helpers/server.js';
import { fnDir } from './helpers/tarball.js';

const run = promisify(execFile);

// A replicate's own metrics: its step time, a constant score, and whether it saw its payload and /fn.
const SCRIPT = `s=$(date +%s%N)
read -r word || true
sleep \${DELAY:-0}
e=$(date +%s%N)
echo "some log line"
echo "{\\"step_ms\\": $(( (e - s) / 1000 ))e-3, \\"score\\": 0.75, \\"saw_payload\\": $([ "$word" = hello ] && echo true || echo false), \\"has_fn\\": $([ -f ./m.sh ] && echo 1 || echo 0)}"
`;
const manifest = (delay: string) =>
  `name: tiny\nruntime: host\ncommand: ["/bin/sh", "/fn/m.sh"]\nenv: {DELAY: "${delay}"}\nlimits: {memory: 32Mi, timeout: 10s}\n`;

const median = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

describe('agni bench sweep', { timeout: 90_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'agni-sweep-test-'));
  // the CLI's scratch instances go here, so a SIGKILLed sweep's leftovers are removed with it
  const scratch = join(work, 'tmp');
  const env = { ...process.env, TMPDIR: scratch };
  const agni = (args: string[]) => run(process.execPath, [CLI, ...args], { env, maxBuffer: 16 << 20 });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('every mode beside the host: tidy CSV, metrics merged, ratios to the host rows, charts', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(scratch, { recursive: true });
    const dir = fnDir({ 'agni.yaml': manifest('0'), 'm.sh': SCRIPT });
    const csv = join(work, 'all.csv');
    const svgDir = join(work, 'svg');
    const md = join(work, 'all.md');
    try {
      const r = await agni([
        'bench',
        'sweep',
        dir,
        '-c',
        '1,2',
        '-n',
        '2',
        '--payload',
        'hello',
        '--baseline',
        'host,docker',
        '--csv',
        csv,
        '--svg-dir',
        svgDir,
        '--md',
        md,
        '--json',
      ]);
      const s = JSON.parse(r.stdout) as SweepSummary;
      const parsed = parseSweepCsv(readFileSync(csv, 'utf8'));
      assert.ok(typeof parsed !== 'string', String(parsed));
      const header = readFileSync(csv, 'utf8').split('\n')[0]!.split(',');
      assert.deepEqual(header.slice(0, 5), ['mode', 'concurrency', 'replicate', 'wall_ms', 'status']);
      for (const c of ['step_ms', 'score', 'saw_payload', 'has_fn', 'agni_ms', 'phase_sandbox_ready_ms'])
        assert.ok(header.includes(c), `column ${c} in ${header.join(',')}`);
      // docker: a note when no engine answers (or a mode when one does); the host runtime has no image
      const modes = ['host', 'process', 'runc', 'prewarmed', 'warm'];
      assert.deepEqual(s.modes, modes);
      assert.ok(
        s.notes.some((n) => /^docker:/.test(n)),
        s.notes.join('; '),
      );
      const rows = parsed.rows;
      assert.equal(rows.length, modes.length * 2 * 2);
      for (const row of rows) {
        assert.equal(row.status, 'ok', JSON.stringify(row));
        assert.equal(row.metrics.score, 0.75);
        assert.equal(row.metrics.saw_payload, 1, `${row.mode}: the payload on stdin`);
        assert.equal(row.metrics.has_fn, 1, `${row.mode}: working directory /fn`);
        assert.ok(row.wall_ms > 0 && row.metrics.step_ms! >= 0);
        if (row.mode === 'host') assert.deepEqual(row.phases, {});
        else
          assert.ok(
            row.phases.agni_ms! > 0 && row.phases.phase_started_ms !== undefined,
            JSON.stringify(row),
          );
      }
      // ratios recomputed from the CSV's own rows
      const cellRows = (mode: string, c: number) =>
        rows.filter((x) => x.mode === mode && x.concurrency === c);
      for (const mode of modes)
        for (const c of [1, 2])
          for (const metric of ['wall_ms', 'step_ms'] as const) {
            const val = (x: SweepRow) => (metric === 'wall_ms' ? x.wall_ms : x.metrics.step_ms!);
            const cell = s.cells.find((x) => x.metric === metric && x.mode === mode && x.concurrency === c);
            assert.ok(cell, `${metric} ${mode} @${c}`);
            assert.equal(cell.n, 2);
            const m = median(cellRows(mode, c).map(val));
            assert.ok(Math.abs(cell.median - m) < 1e-3, `${metric} ${mode} @${c}: ${cell.median} vs ${m}`);
            const h = median(cellRows('host', c).map(val));
            assert.ok(cell.ratio_to_host !== null && Math.abs(cell.ratio_to_host - m / h) < 1e-3);
          }
      assert.ok(s.cells.some((x) => x.metric === 'agni_ms' && x.mode === 'runc' && x.ratio_to_host === null));
      assert.match(
        readFileSync(md, 'utf8'),
        /### step_ms\n\n\| concurrency \| host \| process \| runc \| prewarmed \| warm \|/,
      );
      const svgs = readdirSync(svgDir);
      for (const f of ['wall_ms.svg', 'step_ms.svg', 'agni_ms.svg'])
        assert.ok(svgs.includes(f), svgs.join(','));
      assert.equal(
        (readFileSync(join(svgDir, 'wall_ms.svg'), 'utf8').match(/<g data-mode=/g) ?? []).length,
        10,
      );
      // the scratch instances are gone
      assert.deepEqual(readdirSync(scratch), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGKILL mid-run, then --resume: exactly n rows per cell, none twice; a foreign CSV is refused; the summary is published', async () => {
    const dir = fnDir({ 'agni.yaml': manifest('0.05'), 'm.sh': SCRIPT });
    const csv = join(work, 'resume.csv');
    const args = [
      'bench',
      'sweep',
      dir,
      '-c',
      '1,2',
      '-n',
      '3',
      '--modes',
      'process',
      '--baseline',
      'host',
      '--csv',
      csv,
    ];
    try {
      const p = spawn(process.execPath, [CLI, ...args], { env, stdio: 'ignore' });
      const exited = new Promise((r) => p.once('exit', r));
      const dataRows = () => (existsSync(csv) ? readFileSync(csv, 'utf8').split('\n').length - 2 : 0);
      const end = Date.now() + 30_000;
      while (dataRows() < 3 && Date.now() < end && p.exitCode === null) await sleep(10);
      p.kill('SIGKILL');
      await exited;
      const before = dataRows();
      assert.ok(before >= 3 && before < 12, `killed after ${before} of 12 rows`);

      // the resumed run publishes its summary to a server with a token (a deploy-scoped one would do)
      const server = await startTestServer({ token: 'sweep-test-token', backend: 'process' });
      let s: SweepSummary;
      try {
        const r = await run(process.execPath, [CLI, ...args, '--resume', '--json', '--publish'], {
          env: { ...env, AGNI_URL: server.url, AGNI_TOKEN: 'sweep-test-token' },
        });
        s = JSON.parse(r.stdout) as SweepSummary;
        const latest = (await (
          await fetch(`${server.url}/v1/bench/sweeps/latest`, {
            headers: { authorization: 'Bearer sweep-test-token' },
          })
        ).json()) as { sweep: { function: string; summary: SweepSummary } };
        assert.equal(latest.sweep.function, 'tiny');
        assert.deepEqual(latest.sweep.summary, s);
      } finally {
        await server.close();
      }
      const parsed = parseSweepCsv(readFileSync(csv, 'utf8'));
      assert.ok(typeof parsed !== 'string', String(parsed));
      const keys = parsed.rows.map((x) => `${x.mode}/${x.concurrency}/${x.replicate}`);
      assert.equal(new Set(keys).size, keys.length, 'no replicate twice');
      for (const mode of ['host', 'process'])
        for (const c of [1, 2]) {
          const reps: number[] = parsed.rows
            .filter((x) => x.mode === mode && x.concurrency === c)
            .map((x) => x.replicate);
          assert.deepEqual(
            reps.sort((a, b) => a - b),
            [1, 2, 3],
            `${mode} @${c}`,
          );
        }
      assert.equal(
        s.cells.find((x) => x.metric === 'wall_ms' && x.mode === 'process' && x.concurrency === 2)?.n,
        3,
      );

      const foreign = join(work, 'foreign.csv');
      writeFileSync(foreign, 'a,b,c\n1,2,3\n');
      await assert.rejects(
        agni(['bench', 'sweep', dir, '-n', '1', '--csv', foreign, '--resume']),
        (e: { code: number; stderr: string }) =>
          e.code === 64 && /--resume: .*foreign\.csv: the header is not a sweep's/.test(e.stderr),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
