/**
 * The corn-yield study (examples/corn-yield, issue 14) end to end: a real `agni up` (runc) with
 * the study's table on a read-only volume, both replicates (Python: scikit-learn; R:
 * randomForest + glm) deployed from the example's directories through the CLI, each reading
 * SQLite from the volume and the same table from the real PostgreSQL, printing every metric with
 * sane scores. They run as the example's agni.yaml says to switch them for a database on the
 * network: `network: egress` with `allow:` the database's address only. The database stands on
 * another "machine" (a network namespace relaying to the real PostgreSQL, which listens on
 * loopback), and the API listens on every address (behind a token), so a refusal is the sandbox's
 * network. A probe in a sandbox of the same shape shows what it can and cannot do: a write into
 * the volume fails, PostgreSQL answers, the Agni API does not.
 *
 * Needs the Debian packages of scripts/setup-study.sh (called here; a no-op once installed). The
 * table stays in PostgreSQL's agni_study_test between runs, like a cache: make-data.mjs reloads it
 * only when its seed, size or generator changed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_PG_URL } from '../src/store/test-stores.js';
import { type AgniUp, runCli, spawnAgniUp } from './helpers/agni-up.js';
import { createNetnsHosts, type NetnsHosts } from './helpers/netns-hosts.js';

const EXAMPLE = resolve('examples/corn-yield');
const METRICS = [
  'dbread_time_sec',
  'fread_time_sec',
  'fwrite_time_sec',
  'training_time_sec',
  'evaluation_time_sec',
  'r_squared',
  'rf_r_squared',
  'overall_accuracy',
];
/** small enough to keep the file well under a minute, big enough that the models learn */
const ROWS = 10_000;
const PAYLOAD = '{"trees": 10, "train_rows": 3000}';
/** a database of the test's own: the study's agni_study keeps its full-size table */
const PG_DB = 'agni_study_test';

/** the test's PostgreSQL (AGNI_TEST_PG_URL) with another database */
function pgUrl(db: string): string {
  const u = new URL(TEST_PG_URL);
  u.pathname = `/${db}`;
  return u.toString();
}

/** the host's first non-loopback IPv4 address: where a sandbox with its own network finds the host */
function hostAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

/** true when a TCP connection to host:port opens within 3 s */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const c = connect({ host, port, timeout: 3000 });
    c.once('connect', () => {
      c.destroy();
      res(true);
    });
    c.once('timeout', () => {
      c.destroy();
      res(false);
    });
    c.once('error', () => res(false));
  });
}

/**
 * Reports what a sandbox of the study's shape can do: write into the volume, reach PostgreSQL
 * (a real query), reach each API address. One JSON line.
 */
const PROBE = `
import json, os, socket, sys
out = {}
try:
    with open("/data/probe-" + os.environ["AGNI_FUNCTION"], "w") as f:
        f.write("x")
    out["write"] = "wrote"
except OSError as e:
    out["write"] = os.strerror(e.errno)
try:
    import psycopg2
    c = psycopg2.connect(host=os.environ["STUDY_PG_HOST"], port=int(os.environ["STUDY_PG_PORT"]),
                         dbname=os.environ["STUDY_PG_DB"], user=os.environ["STUDY_PG_USER"], connect_timeout=5)
    cur = c.cursor()
    cur.execute("SELECT count(*) FROM corn_yield")
    out["pg_rows"] = cur.fetchone()[0]
    c.close()
except Exception as e:
    out["pg_error"] = str(e).strip()
out["api"] = {}
for target in os.environ["API_TARGETS"].split(","):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        out["api"][target] = "connected"
    except OSError as e:
        out["api"][target] = type(e).__name__
print(json.dumps(out))
`;

describe('corn-yield study (runc, read-only volume, PostgreSQL)', () => {
  const root = mkdtempSync(join(tmpdir(), 'agni-corn-'));
  const data = join(root, 'study-data');
  const home = join(root, 'home');
  const hostIp = hostAddress();
  const token = randomBytes(16).toString('hex');
  let up: AgniUp;
  /** the database's "machine" and the relays to PostgreSQL */
  let dbHost: NetnsHosts | undefined;
  const relays: ChildProcess[] = [];
  /** where the sandboxes find PostgreSQL */
  let pg = { host: new URL(TEST_PG_URL).hostname, port: Number(new URL(TEST_PG_URL).port || 5432) };
  const cliEnv = { AGNI_TOKEN: token };
  /** the cold Python replicate's metrics, for the warm worker's to match */
  let coldPython: Record<string, number> | undefined;
  const agni = (...args: string[]) => runCli(up.url, args, undefined, cliEnv);

  /**
   * The example's directory as deployed here: the switch its agni.yaml describes (network and
   * allow), the test's database and its address. `env` sets more.
   */
  function variant(dir: string, env: Record<string, string> = {}): string {
    const out = mkdtempSync(join(root, 'fn-'));
    cpSync(dir, out, { recursive: true, verbatimSymlinks: true });
    let yaml = readFileSync(join(out, 'agni.yaml'), 'utf8');
    assert.match(yaml, /^network: host$/m);
    yaml = yaml.replace(/^network: host$/m, `network: egress\nallow: ["${pg.host}:${pg.port}"]`);
    const vars = {
      STUDY_PG_DB: PG_DB,
      STUDY_PG_HOST: pg.host,
      STUDY_PG_PORT: String(pg.port),
      STUDY_PG_USER: decodeURIComponent(new URL(TEST_PG_URL).username) || 'postgres',
      ...env,
    };
    for (const [k, v] of Object.entries(vars)) {
      const line = new RegExp(`^ {2}${k}: .*$`, 'm');
      const set = `  ${k}: ${JSON.stringify(v)}`;
      yaml = line.test(yaml) ? yaml.replace(line, set) : yaml.replace(/^env:$/m, `env:\n${set}`);
    }
    writeFileSync(join(out, 'agni.yaml'), yaml);
    return out;
  }

  before(async () => {
    execFileSync('bash', ['scripts/setup-study.sh'], { stdio: ['ignore', 'inherit', 'inherit'] });
    const made = execFileSync(
      process.execPath,
      [join(EXAMPLE, 'make-data.mjs'), '--out', data, '--rows', String(ROWS), '--pg', pgUrl(PG_DB)],
      { encoding: 'utf8' },
    );
    assert.match(made, /10000 rows/);
    // the sandbox runs as 65534: let it write where the directory's permissions alone would allow,
    // so only the read-only mount stands in the way
    chmodSync(data, 0o777);
    // PostgreSQL listens on the host's loopback, and no sandbox may reach any host address: the
    // database stands on another "machine", a network namespace (test/helpers/netns-hosts.ts),
    // where a relay listens on that machine's address and passes each connection through a unix
    // socket (which crosses namespaces) to a relay on the host, and so to the real PostgreSQL.
    dbHost = await createNetnsHosts(1);
    const h = dbHost.hosts[0]!;
    const sock = join(root, 'pg.sock');
    relays.push(
      spawn('socat', [`UNIX-LISTEN:${sock},fork,mode=600`, `TCP:${pg.host}:${pg.port}`], {
        stdio: 'ignore',
      }),
    );
    for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    relays.push(
      dbHost.spawn(0, 'socat', [`TCP-LISTEN:5432,bind=${h.address},fork,reuseaddr`, `UNIX-CONNECT:${sock}`], {
        stdio: 'ignore',
      }),
    );
    for (let i = 0; i < 50 && !(await reachable(h.address, 5432)); i++)
      await new Promise((r) => setTimeout(r, 100));
    pg = { host: h.address, port: 5432 };
    up = await spawnAgniUp(
      home,
      [
        '--volume',
        `study=${data}:ro`,
        '--slots',
        '2',
        // on every address (behind a token) so that the sandbox's failure to reach it is the network's doing
        '--host',
        '0.0.0.0',
      ],
      { AGNI_TOKEN: token },
    );
    assert.match(up.out(), /agni up: backend runc/);
  });

  after(async () => {
    if (up && up.p.exitCode === null && up.p.signalCode === null) {
      const exited = new Promise((r) => up.p.once('exit', r));
      up.p.kill('SIGTERM');
      const force = setTimeout(() => up.p.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(force);
    }
    for (const r of relays) r.kill();
    await dbHost?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  test('both replicates (Python, R) print every metric with sane scores, and agree on the GLM', async () => {
    for (const lang of ['python', 'r']) {
      const r = await agni('deploy', variant(join(EXAMPLE, lang)));
      assert.equal(r.code, 0, r.stderr);
    }
    const [py, r] = await Promise.all(
      ['corn-yield-py', 'corn-yield-r'].map((fn) => agni('invoke', fn, '--data', PAYLOAD)),
    );
    const results: Record<string, Record<string, number>> = {};
    for (const [name, run] of [
      ['python', py!],
      ['r', r!],
    ] as const) {
      assert.equal(run.code, 0, `${name}: ${run.stderr}`);
      const lines = run.stdout.trim().split('\n');
      assert.equal(lines.length, 1, `${name} prints one line: ${run.stdout}`);
      const m = JSON.parse(lines[0]!) as Record<string, number>;
      assert.deepEqual(Object.keys(m).sort(), [...METRICS].sort(), name);
      for (const k of METRICS) assert.ok(Number.isFinite(m[k]) && m[k]! >= 0, `${name} ${k}: ${m[k]}`);
      assert.ok(m.dbread_time_sec! > 0 && m.fread_time_sec! > 0 && m.training_time_sec! > 0, name);
      // measured on this table and payload: GLM 0.32, forest 0.80, exact class 0.30 (always guessing the largest class: 0.21)
      assert.ok(m.r_squared! > 0.15 && m.r_squared! < 0.5, `${name} r_squared ${m.r_squared}`);
      assert.ok(m.rf_r_squared! > 0.6, `${name} rf_r_squared ${m.rf_r_squared}`);
      assert.ok(
        m.overall_accuracy! > 0.22 && m.overall_accuracy! <= 1,
        `${name} accuracy ${m.overall_accuracy}`,
      );
      results[name] = m;
    }
    coldPython = results.python;
    // the same Poisson GLM by IRLS on the same rows: one answer, whichever language fitted it
    assert.ok(
      Math.abs(results.python!.r_squared! - results.r!.r_squared!) < 1e-4,
      `python ${results.python!.r_squared} vs R ${results.r!.r_squared}`,
    );
  });

  test('the Python replicate as a warm worker (python/warm.py): the same scores as a cold one; a bad payload fails alone', async () => {
    assert.ok(coldPython, 'the cold replicates ran first');
    const dir = variant(join(EXAMPLE, 'python'));
    writeFileSync(
      join(dir, 'agni.yaml'),
      `${readFileSync(join(dir, 'agni.yaml'), 'utf8')
        .replace(/^name: .*$/m, 'name: corn-yield-py-warm')
        .replace(
          /^command: .*$/m,
          'command: ["/usr/bin/python3", "/fn/warm.py"]',
        )}lifecycle: warm\npool: {max: 1}\n`,
    );
    assert.equal((await agni('deploy', dir)).code, 0);
    // a bad payload fails that call only, with the reason (the worker stays for the next)
    const bad = await agni('invoke', 'corn-yield-py-warm', '--data', '{"tree": 5}');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unknown key 'tree'/);
    const r = await agni('invoke', 'corn-yield-py-warm', '--data', PAYLOAD);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual(Object.keys(m).sort(), [...METRICS].sort());
    for (const k of ['r_squared', 'rf_r_squared', 'overall_accuracy'])
      assert.equal(m[k], coldPython[k], `${k}: a warm call fits what a cold one fits`);
  });

  test('in the sandbox: a write into the read-only volume fails, PostgreSQL answers', async () => {
    const dir = variant(join(EXAMPLE, 'python'), {
      API_TARGETS: `127.0.0.1:${new URL(up.url).port}`,
    });
    writeFileSync(join(dir, 'probe.py'), PROBE);
    const yaml = readFileSync(join(dir, 'agni.yaml'), 'utf8')
      .replace(/^name: .*$/m, 'name: corn-yield-probe')
      .replace(/^command: .*$/m, 'command: ["/usr/bin/python3", "/fn/probe.py"]');
    writeFileSync(join(dir, 'agni.yaml'), yaml);
    assert.equal((await agni('deploy', dir)).code, 0);
    const r = await agni('invoke', 'corn-yield-probe');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { write: string; pg_rows?: number; pg_error?: string };
    assert.equal(out.write, 'Read-only file system');
    assert.equal(existsSync(join(data, 'probe-corn-yield-probe')), false);
    assert.equal(out.pg_rows, ROWS, out.pg_error);
  });

  test('in the sandbox: the Agni API is not reachable (network: egress, allow: PostgreSQL only)', async () => {
    const apiPort = Number(new URL(up.url).port);
    // the host's loopback, its own address, and its side of the database's link
    const targets = [
      `127.0.0.1:${apiPort}`,
      ...(hostIp ? [`${hostIp}:${apiPort}`] : []),
      `${dbHost!.hosts[0]!.gateway}:${apiPort}`,
    ];
    // from the host it answers on both: a refusal in the sandbox is the sandbox's network
    for (const t of targets) {
      const [h, p] = t.split(':');
      assert.ok(await reachable(h!, Number(p)), `the API answers on ${t} from the host`);
    }
    const dir = variant(join(EXAMPLE, 'python'), { API_TARGETS: targets.join(',') });
    writeFileSync(join(dir, 'probe.py'), PROBE);
    writeFileSync(
      join(dir, 'agni.yaml'),
      readFileSync(join(dir, 'agni.yaml'), 'utf8')
        .replace(/^name: .*$/m, 'name: corn-yield-probe-net')
        .replace(/^command: .*$/m, 'command: ["/usr/bin/python3", "/fn/probe.py"]'),
    );
    assert.equal((await agni('deploy', dir)).code, 0);
    const r = await agni('invoke', 'corn-yield-probe-net');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { pg_rows?: number; pg_error?: string; api: Record<string, string> };
    assert.equal(out.pg_rows, ROWS, out.pg_error);
    for (const t of targets) assert.notEqual(out.api[t], 'connected', `${t} reached from the sandbox`);
  });
});
