/**
 * `npm run bench:study`: the corn-yield study of issue 14. Makes the table (SQLite for the
 * read-only volume, the same rows in PostgreSQL), then runs `agni bench sweep` (the real CLI) on
 * the Python and the R replicate across the bare host, runc cold, prewarmed and warm (docker too
 * when an engine answers), and writes docs/study.md with its charts under docs/img/study/.
 *
 *   npm run bench:study                       # -n 3 -c 1,2: a few minutes on two cores
 *   npm run bench:study -- -n 200 -c 1,2,4,6,8  # the published study's replicate count
 *   npm run bench:study -- --resume           # continue an interrupted run from its CSVs
 *   npm run bench:study -- --lang python      # one language (docs/study.md then shows only it)
 *   npm run bench:study -- --report-only      # docs/study.md again from the last run's results
 *
 * Environment: STUDY_PAYLOAD (every replicate's payload, default below), STUDY_PG_URL (where the
 * table is loaded; the functions' agni.yaml must point there too). CSV and JSON land in
 * bench/results/ (git-ignored), the data in bench/.data/study/.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type StudyLanguage, studyMarkdown, withMode } from '../src/bench/study-report.js';
import type { SweepSummary } from '../src/bench/sweep-summary.js';
import { svgFileName, sweepSvg } from '../src/bench/sweep-svg.js';

const CLI = resolve('dist/src/cli/main.js');
const EXAMPLE = resolve('examples/corn-yield');
const DATA = resolve('bench/.data/study');
const RESULTS = resolve('bench/results');
const DOC = resolve('docs/study.md');
const IMG = resolve('docs/img/study');
const ROWS = 40_000;
const SEED = 14;
/** the functions' defaults, said explicitly so the page names what every replicate ran */
const PAYLOAD = process.env.STUDY_PAYLOAD ?? '{"trees": 20, "train_rows": 4000, "irls_steps": 50}';

const LANGS = [
  { key: 'python', name: 'Python', dir: 'examples/corn-yield/python' },
  { key: 'r', name: 'R', dir: 'examples/corn-yield/r' },
];

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', short: 'n', default: '3' },
    concurrency: { type: 'string', short: 'c', default: '1,2' },
    modes: { type: 'string', default: 'runc,prewarmed,warm' },
    resume: { type: 'boolean', default: false },
    'report-only': { type: 'boolean', default: false },
    lang: { type: 'string' },
  },
});

function sh(cmd: string, argv: string[]): string {
  try {
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return '';
  }
}

/** Runs `agni ARGS`, its progress bar and errors on our stderr; rejects on a non-zero exit. */
function agni(argv: string[]): Promise<void> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('error', rej);
    p.once('exit', (code, signal) =>
      code === 0 ? res() : rej(new Error(`agni ${argv.slice(0, 3).join(' ')} … exited ${code ?? signal}`)),
    );
  });
}

function machine(): [string, string][] {
  const os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
  const py = sh('/usr/bin/python3', [
    '-c',
    'import sys, sklearn, pandas, numpy; print(sys.version.split()[0], "· scikit-learn", sklearn.__version__, "· pandas", pandas.__version__, "· numpy", numpy.__version__)',
  ]);
  const r = sh('/usr/bin/Rscript', [
    '-e',
    'cat(R.version$major, ".", R.version$minor, " · randomForest ", format(packageVersion("randomForest")), " · RSQLite ", format(packageVersion("RSQLite")), " · RPostgreSQL ", format(packageVersion("RPostgreSQL")), sep = "")',
  ]);
  const pg = sh('psql', [
    '-XAtc',
    'SHOW server_version',
    process.env.STUDY_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  ]);
  const runc = sh('runc', ['--version']).split('\n')[0] ?? '';
  const docker = sh('docker', ['version', '--format', '{{.Server.Version}}']);
  return [
    ['CPU', `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`],
    ['memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['OS, kernel', `${os}, Linux ${release()}`],
    [
      'load average at start (1, 5, 15 min)',
      loadavg()
        .map((x) => x.toFixed(2))
        .join(', '),
    ],
    ['runc', runc || 'missing'],
    ['Docker engine', docker || 'none (no docker column)'],
    ['Python', py || 'missing'],
    ['R', r || 'missing'],
    ['PostgreSQL', pg || 'unreachable'],
    ['Node.js (Agni)', process.version],
  ];
}

/** `agni bench sweep DIR` with the study's levels, replicates, volume and payload; outputs at BASE.* */
async function sweepOnce(dir: string, base: string, svgDir: string, modes: string[]): Promise<void> {
  process.stderr.write(
    `study: agni bench sweep ${relative(process.cwd(), dir)} -n ${args.n} -c ${args.concurrency} ${modes.join(' ')}\n`,
  );
  await agni([
    'bench',
    'sweep',
    dir,
    '-c',
    args.concurrency!,
    '-n',
    args.n!,
    ...modes,
    '--volume',
    `study=${DATA}:ro`,
    '--payload',
    PAYLOAD,
    '--csv',
    `${base}.csv`,
    '--json',
    `${base}.json`,
    '--md',
    `${base}.md`,
    '--svg-dir',
    svgDir,
    ...(args.resume ? ['--resume'] : []),
  ]);
}

/** examples/corn-yield/python as a warm worker (python/warm.py), in a scratch copy (the caller removes its parent) */
function warmVariant(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'agni-study-')), 'python-warm');
  cpSync(join(EXAMPLE, 'python'), dir, { recursive: true });
  const yaml = readFileSync(join(dir, 'agni.yaml'), 'utf8')
    .replace(/^name: .*$/m, 'name: corn-yield-py-warm')
    .replace(/^command: .*$/m, 'command: ["/usr/bin/python3", "/fn/warm.py"]');
  writeFileSync(join(dir, 'agni.yaml'), `${yaml}lifecycle: warm\n`);
  return dir;
}

/** what the page says about the run itself: kept beside the sweeps' JSON for --report-only */
interface RunFacts {
  date: string;
  argv: string;
  machine: [string, string][];
  loadStart: number;
  loadEnd: number;
  cores: number;
  sqliteBytes: number;
}

async function main(): Promise<void> {
  const langs = args.lang ? LANGS.filter((l) => l.key === args.lang) : LANGS;
  if (langs.length === 0) throw new Error(`--lang: python or r, got ${args.lang}`);
  const reportOnly = args['report-only'] === true;
  if (!reportOnly && !sh(process.execPath, [CLI, 'bench', 'sweep', '--help']).includes('--replicates'))
    throw new Error(
      'this build has no `agni bench sweep` (issue 14); merge the branch that adds it, then run this again',
    );
  const factsFile = join(RESULTS, 'study-run.json');
  const machineFacts = reportOnly ? [] : machine();
  const loadStart = loadavg()[0]!;
  if (!reportOnly) {
    const made = execFileSync(
      process.execPath,
      [
        join(EXAMPLE, 'make-data.mjs'),
        '--out',
        DATA,
        '--rows',
        String(ROWS),
        '--seed',
        String(SEED),
        ...(process.env.STUDY_PG_URL ? ['--pg', process.env.STUDY_PG_URL] : []),
      ],
      { encoding: 'utf8' },
    );
    process.stderr.write(made);
  }
  mkdirSync(RESULTS, { recursive: true });
  const docker = sh('docker', ['info', '--format', '{{.ServerVersion}}']) !== '';
  const out: StudyLanguage[] = [];
  for (const l of langs) {
    const base = join(RESULTS, `study-${l.key}`);
    const svgDir = join(IMG, l.key);
    mkdirSync(svgDir, { recursive: true });
    if (!reportOnly)
      await sweepOnce(l.dir, base, svgDir, [
        '--modes',
        args.modes!,
        '--baseline',
        docker ? 'host,docker' : 'host',
      ]);
    let sweep = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as SweepSummary;
    if (l.key === 'python' && sweep.modes.includes('warm')) {
      // the same replicate from a warm worker that keeps its imports: no host command to compare
      // it with, so it is swept alone and shown as one more column of the Python table
      if (!reportOnly) {
        const warmDir = warmVariant();
        await sweepOnce(warmDir, `${base}-warm`, `${base}-warm-svg`, [
          '--modes',
          'warm',
          '--baseline',
          'none',
        ]).finally(() => rmSync(dirname(warmDir), { recursive: true, force: true }));
      }
      const warm = JSON.parse(readFileSync(`${base}-warm.json`, 'utf8')) as SweepSummary;
      sweep = withMode(sweep, warm, 'warm', 'warm-imports');
      // the charts again, with the warm worker's column
      for (const m of sweep.metrics) writeFileSync(join(svgDir, svgFileName(m)), sweepSvg(sweep, m));
    }
    const charts = Object.fromEntries(
      readdirSync(svgDir)
        .filter((f) => f.endsWith('.svg'))
        .map((f) => [f.slice(0, -4), relative(resolve('docs'), join(svgDir, f))]),
    );
    out.push({ name: l.name, dir: l.dir, sweep, charts, fullMarkdown: readFileSync(`${base}.md`, 'utf8') });
  }
  const argv = process.argv.slice(2).join(' ');
  const sqlite = join(DATA, 'corn-yield.sqlite');
  const facts: RunFacts = reportOnly
    ? (JSON.parse(readFileSync(factsFile, 'utf8')) as RunFacts)
    : {
        date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
        argv,
        machine: machineFacts,
        loadStart,
        loadEnd: loadavg()[0]!,
        cores: cpus().length,
        sqliteBytes: existsSync(sqlite) ? statSync(sqlite).size : 0,
      };
  if (!reportOnly) writeFileSync(factsFile, `${JSON.stringify(facts, null, 2)}\n`);
  writeFileSync(
    DOC,
    studyMarkdown({
      date: facts.date,
      command: `npm run bench:study${facts.argv ? ` -- ${facts.argv}` : ''}`,
      machine: facts.machine,
      table: { rows: ROWS, columns: 29, sqliteBytes: facts.sqliteBytes, seed: SEED },
      payload: PAYLOAD,
      languages: out,
      load: { start: facts.loadStart, end: facts.loadEnd, cores: facts.cores },
    }),
  );
  process.stderr.write(`study: wrote ${relative(process.cwd(), DOC)} and ${relative(process.cwd(), IMG)}/\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`bench:study: ${e.message}\n`);
  process.exit(1);
});
