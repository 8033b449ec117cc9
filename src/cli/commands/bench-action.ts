/**
 * What `agni bench cold` and `agni bench load` do, imported only when one of them runs
 * (lazy-action.ts); their arguments, options and help are in bench.ts.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BASELINES, type BaselineName, COLD_MODES, type ColdMode } from '../../bench/cold-modes.js';
import { coldCsv, coldTable, phaseTable } from '../../bench/cold-report.js';
import { runLoad, runLoadAt } from '../../bench/load.js';
import { CEILING_TITLES, CEILINGS, type Ceiling, startCeiling } from '../../bench/load-ceiling.js';
import {
  ceilingTable,
  type LoadLevel,
  loadCsv,
  loadSvg,
  loadTable,
  parseLevels,
} from '../../bench/load-report.js';
import { AgniError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { ApiClient } from '../client.js';
import { choiceList } from '../option-parsers.js';
import { printJson } from '../output.js';

export async function cold(
  dir: string,
  o: {
    runs: string;
    modes: string;
    baselines: string;
    rootfs?: string;
    gap: string;
    warm?: string;
    lambda?: string;
    json?: boolean;
    csv?: boolean;
  },
): Promise<void> {
  const runs = Number(o.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 10_000)
    throw new AgniError(
      'bad_request',
      `--runs: expected a whole number from 1 to 10000, got ${JSON.stringify(o.runs)}`,
    );
  const modes = choiceList('--modes', o.modes, COLD_MODES);
  const baselines = choiceList('--baselines', o.baselines, BASELINES);
  const gapMs = parseDuration(o.gap);
  if (typeof gapMs === 'string')
    throw new AgniError('bad_request', `--gap: expected ${gapMs}, got ${JSON.stringify(o.gap)}`);
  const quiet = o.json || o.csv || !process.stderr.isTTY;
  // Loaded on use: it pulls in the whole embedded server, which other verbs never need.
  const { runCold } = await import('../../bench/cold.js');
  const result = await runCold({
    dir: resolve(dir),
    runs,
    modes: modes as ColdMode[],
    baselines: baselines as BaselineName[],
    rootfs: o.rootfs,
    gapMs,
    warmDir: o.warm ? resolve(o.warm) : undefined,
    lambdaDir: o.lambda ? resolve(o.lambda) : undefined,
    onProgress: quiet
      ? undefined
      : (label, done, total) => {
          const bar = '█'.repeat(Math.round((done / total) * 20)).padEnd(20, '░');
          process.stderr.write(`\r\x1b[K${bar} ${label} ${done}/${total}`);
        },
  });
  if (!quiet) process.stderr.write('\r\x1b[K');
  if (o.json) return printJson(result);
  if (o.csv) return void process.stdout.write(coldCsv(result.rows));
  process.stdout.write(
    `agni bench cold ${result.function}: ${result.runs} runs each (first discarded), HTTP request to response\n\n`,
  );
  process.stdout.write(`${coldTable(result.rows)}\n\n${phaseTable(result.rows)}\n`);
}

export async function load(
  fn: string,
  o: {
    concurrency: string;
    duration: string;
    data: string;
    json?: boolean;
    csv?: string | boolean;
    svg?: string;
    ceiling: boolean;
    ceilings: string;
    slots: string;
  },
): Promise<void> {
  const levels = parseLevels(o.concurrency);
  if (typeof levels === 'string')
    throw new AgniError(
      'bad_request',
      `--concurrency: expected ${levels}, got ${JSON.stringify(o.concurrency)}`,
    );
  const durationMs = parseDuration(o.duration);
  if (typeof durationMs === 'string')
    throw new AgniError(
      'bad_request',
      `--duration: expected ${durationMs}, got ${JSON.stringify(o.duration)}`,
    );
  const kinds = o.ceiling ? (choiceList('--ceilings', o.ceilings, CEILINGS) as Ceiling[]) : [];
  const slots = Number(o.slots);
  if (!Number.isInteger(slots) || slots < 1 || slots > 256)
    throw new AgniError(
      'bad_request',
      `--slots: expected a whole number from 1 to 256, got ${JSON.stringify(o.slots)}`,
    );
  const client = new ApiClient();
  await client.json('GET', `/v1/functions/${encodeURIComponent(fn)}`);
  const quiet = o.json || o.csv === true || !process.stderr.isTTY;
  const total = levels.length * durationMs;
  const results = await runLoad(client, {
    function: fn,
    levels,
    durationMs,
    payload: Buffer.from(o.data),
    onProgress: quiet
      ? undefined
      : (() => {
          let last = 0;
          return (level, done, elapsed) => {
            const now = Date.now();
            if (now - last < 100) return;
            last = now;
            const i = levels.indexOf(level);
            const frac = Math.min(1, (i * durationMs + elapsed) / total);
            const bar = '█'.repeat(Math.round(frac * 30)).padEnd(30, '░');
            process.stderr.write(
              `\r${bar} ${(frac * 100).toFixed(0).padStart(3)}%  concurrency ${level}: ${done} requests`,
            );
          };
        })(),
  });
  if (!quiet) process.stderr.write('\r\x1b[K');
  const ceilings: Partial<Record<Ceiling, LoadLevel[]>> = {};
  for (const kind of kinds) {
    if (!quiet) process.stderr.write(`ceiling: ${CEILING_TITLES[kind]}, same levels...\n`);
    const server = await startCeiling(kind, slots);
    try {
      ceilings[kind] = await runLoadAt(
        server.url,
        {},
        { function: fn, levels, durationMs, payload: Buffer.from(o.data) },
      );
    } finally {
      await server.stop();
    }
  }
  if (o.svg) await writeFile(o.svg, loadSvg(results, `agni bench load ${fn}`));
  if (typeof o.csv === 'string') await writeFile(o.csv, loadCsv(results));
  if (o.json)
    printJson({
      function: fn,
      durationMs,
      levels: results,
      // `ceiling`: the hello one, as before there were several
      ...(ceilings.hello ? { ceiling: ceilings.hello } : {}),
      ...(kinds.length > 0 ? { ceilings } : {}),
    });
  else if (o.csv === true) process.stdout.write(loadCsv(results));
  else {
    process.stdout.write(`${loadTable(results)}\n`);
    for (const kind of kinds)
      process.stdout.write(
        `\nbeside ${CEILING_TITLES[kind]}:\n${ceilingTable(results, ceilings[kind] ?? [], kind)}\n`,
      );
  }
  if (!o.json && o.svg) process.stderr.write(`chart: ${o.svg}\n`);
}
