/**
 * /metrics of a real server (runc), scraped by a real Prometheus (Debian's `prometheus`, installed
 * by scripts/setup.sh) with the server's token: invocations by function, status and mode (cold,
 * prewarmed, warm), sandboxes, phases; a rate queried through Prometheus's HTTP API; and every
 * metric and query of docs/grafana-dashboard.json checked against the scrape and Prometheus.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ContentStore } from '../src/image/oci/content-store.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { busyboxLayer, startRegistry, storeImage } from './helpers/registry.js';
import { runcList } from './helpers/runc-list.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

const TOKEN = 'metrics-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const NODE = hostname();
let s: TestServer;

const yaml = (name: string, command: string[], extra = '') =>
  `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\n${extra}`;
// A Lambda custom runtime that echoes each event back (curl against the Runtime API).
const ECHO_BOOTSTRAP = `#!/bin/bash
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  H=$(mktemp)
  EV=$(curl -sS -D "$H" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$H" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS -X POST -d "$EV" "$API/invocation/$ID/response" >/dev/null
done
`;
const SH_WORKER = '. "$AGNI_RUNTIMES/shell/agni-warm.sh"\nhandle() { cat; }\nagni_serve handle\n';

async function deploy(files: Record<string, string>, executable: string[] = []): Promise<void> {
  const dir = fnDir(files);
  for (const f of executable) chmodSync(join(dir, f), 0o755);
  const r = await fetch(`${s.url}/v1/functions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(dir)),
  });
  assert.equal(r.status, 201, await r.text());
}

async function invoke(name: string): Promise<number> {
  const r = await fetch(`${s.url}/v1/functions/${name}/invoke`, {
    method: 'POST',
    headers: auth,
    body: 'hi',
  });
  await r.text();
  return r.status;
}

async function scrape(): Promise<string> {
  const r = await fetch(`${s.url}/metrics`, { headers: auth });
  assert.equal(r.status, 200);
  return r.text();
}

/** the sum of the samples `name{labels…}` (labels in any order, others allowed; none: 0) */
function sample(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

async function until<T>(get: () => Promise<T | undefined>, what: string, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** a prepared sandbox whose id starts with `prefix` is running (waiting for its invocation) */
function waitingOf(prefix: string): boolean {
  return runcList(join(s.home, 'run', 'runc')).some((c) => c.id.startsWith(prefix) && c.status === 'running');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

describe('metrics', () => {
  before(async () => {
    // Cold functions get demand-sized pools too (pool.max defaults above 0), and the node's budget is
    // one prepared sandbox per slot: enough slots that m-pool's own sandbox has room.
    s = await startTestServer({ token: TOKEN, slots: 4 });
    await deploy({ 'agni.yaml': yaml('m-cold', ['cat']) });
    await deploy({ 'agni.yaml': yaml('m-fail', ['sh', '-c', 'exit 3']) });
    await deploy({ 'agni.yaml': yaml('m-pool', ['cat'], 'pool:\n  min: 1\n') });
    await deploy({
      'agni.yaml': yaml('m-warm', ['sh', '/fn/main.sh'], 'lifecycle: warm\n'),
      'main.sh': SH_WORKER,
    });
    await deploy(
      {
        'agni.yaml': yaml('m-lambda', ['/bin/bash', '/fn/bootstrap'], 'protocol: lambda\n'),
        bootstrap: ECHO_BOOTSTRAP,
      },
      ['bootstrap'],
    );
  });
  after(async () => {
    await s?.close();
    if (s) rmSync(s.home, { recursive: true, force: true });
  });

  test('counts invocations by function, status and mode, sandboxes by kind, and phases', async () => {
    assert.equal(await invoke('m-cold'), 200);
    assert.equal(await invoke('m-fail'), 502);
    assert.equal(await invoke('m-warm'), 200);
    assert.equal(await invoke('m-warm'), 200);
    const lam = await fetch(`${s.url}/v1/functions/m-lambda/invoke`, {
      method: 'POST',
      headers: auth,
      body: '{"a":1}',
    });
    assert.equal(lam.status, 200, await lam.clone().text());
    assert.equal(await lam.text(), '{"a":1}');
    // Read before the worker's idle timeout can stop it.
    const warm = await scrape();
    assert.ok(
      sample(warm, 'agni_warm_hits_total', { node: NODE }) >= 1,
      'the second warm call reused the worker',
    );
    assert.equal(
      sample(warm, 'agni_warm_starts_total', { node: NODE }),
      2,
      'one warm worker, one Lambda worker',
    );
    assert.equal(sample(warm, 'agni_warm_workers', { node: NODE }), 2);
    // The first call makes the pool (it runs fresh: a miss); the next one, once a sandbox waits, takes it.
    assert.equal(await invoke('m-pool'), 200);
    await until(async () => (waitingOf('m-pool-v1-p') ? true : undefined), 'a prepared sandbox of m-pool');
    assert.equal(await invoke('m-pool'), 200);
    const text = await scrape();
    const inv = (fn: string, status: string, mode: string) =>
      sample(text, 'agni_invocations_total', { function: fn, status, mode, node: NODE });
    assert.equal(inv('m-cold', 'succeeded', 'cold'), 1);
    assert.equal(inv('m-fail', 'failed', 'cold'), 1);
    assert.equal(inv('m-warm', 'succeeded', 'warm'), 2);
    assert.equal(inv('m-lambda', 'succeeded', 'lambda'), 1);
    assert.equal(sample(text, 'agni_prewarm_hits_total', { node: NODE }), 1);
    // m-cold, m-fail and m-pool's first call found no sandbox waiting
    assert.equal(sample(text, 'agni_prewarm_misses_total', { node: NODE }), 3);
    assert.equal(inv('m-pool', 'succeeded', 'prewarmed'), 1);
    assert.equal(inv('m-pool', 'succeeded', 'cold'), 1);
    assert.ok(sample(text, 'agni_sandbox_creations_total', { node: NODE, kind: 'run' }) >= 2);
    assert.ok(sample(text, 'agni_sandbox_creations_total', { node: NODE, kind: 'prepared' }) >= 1);
    assert.equal(sample(text, 'agni_sandbox_creations_total', { node: NODE, kind: 'worker' }), 2);
    assert.equal(sample(text, 'agni_slots', { node: NODE }), 4);
    assert.equal(sample(text, 'agni_slots_in_use', { node: NODE }), 0);
    assert.equal(
      sample(text, 'agni_invocation_duration_seconds_count', { function: 'm-cold', node: NODE }),
      1,
    );
    for (const phase of ['received', 'queued', 'placed', 'sandbox_ready', 'started'])
      assert.ok(
        sample(text, 'agni_invocation_phase_seconds_count', { phase, function: 'm-cold', node: NODE }) >= 1,
        `phase ${phase} observed`,
      );
  });

  test('counts async retries and dead letters, job items, and image pulls with their bytes', async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${s.url}${path}`, { method: 'POST', headers: { ...auth, ...headers }, body });
    // async: two attempts, both fail: one retry, one dead letter
    await deploy({
      'agni.yaml': yaml('m-doomed', ['sh', '-c', 'exit 4'], 'retries: 1\nbackoff: {initial: 100ms}\n'),
    });
    const sub = (await (await post('/v1/functions/m-doomed/async', '')).json()) as { id: string };
    const res = await fetch(`${s.url}/v1/invocations/${sub.id}/result?wait=120`, { headers: auth });
    await res.arrayBuffer();
    assert.equal(res.headers.get('agni-dead-letter'), 'true');
    // a job of two items over m-cold
    const json = { 'content-type': 'application/json' };
    const job = (await (await post('/v1/jobs', JSON.stringify({ function: 'm-cold' }), json)).json()) as {
      id: string;
    };
    assert.equal(
      (await post(`/v1/jobs/${job.id}/inputs`, 'a\nb\n', { 'agni-input-split': 'lines' })).status,
      201,
    );
    assert.equal((await post(`/v1/jobs/${job.id}/start`, '')).status, 200);
    await until(async () => {
      const j = (await (await fetch(`${s.url}/v1/jobs/${job.id}`, { headers: auth })).json()) as {
        status: string;
      };
      return j.status === 'succeeded' ? true : undefined;
    }, 'the job to finish');
    // an image pulled from a real registry, and one that is not there
    const reg = await startRegistry();
    const scratch = mkdtempSync(join(tmpdir(), 'agni-metrics-img-'));
    try {
      const src = new ContentStore(join(scratch, 'src'));
      const img = await storeImage(src, await busyboxLayer());
      await pushImage(
        new RegistryClient({ host: reg.host }),
        src,
        img.manifestDigest,
        parseReference(`${reg.host}/m/img:v1`),
      );
      const pull = async (ref: string) =>
        (await post('/v1/oci/pull', JSON.stringify({ ref, insecure: true }), json)).text();
      assert.match(await pull(`${reg.host}/m/img:v1`), /"type":"done"/);
      assert.match(await pull(`${reg.host}/m/absent:v1`), /"error"/);
      const text = await scrape();
      assert.equal(sample(text, 'agni_image_pulls_total', { result: 'ok' }), 1);
      assert.equal(sample(text, 'agni_image_pulls_total', { result: 'failed' }), 1);
      assert.ok(sample(text, 'agni_image_pull_bytes_total', {}) >= img.layerSize, 'the layer was fetched');
      assert.equal(sample(text, 'agni_async_retries_total', { function: 'm-doomed' }), 1);
      assert.equal(sample(text, 'agni_async_dead_letters_total', { function: 'm-doomed' }), 1);
      assert.equal(sample(text, 'agni_async_backlog', {}), 0);
      assert.equal(sample(text, 'agni_job_items_total', { function: 'm-cold', status: 'succeeded' }), 2);
      // each attempt ended (the second may have found a prepared sandbox: any mode)
      assert.equal(sample(text, 'agni_invocations_total', { function: 'm-doomed', status: 'failed' }), 2);
    } finally {
      await reg.close();
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  describe('scraped by Prometheus', () => {
    let prom: ChildProcess | undefined;
    let dir = '';
    let promUrl = '';
    let promLog = '';

    before(async () => {
      try {
        execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
      } catch {
        assert.fail('prometheus is not installed: run scripts/setup.sh (Debian package prometheus)');
      }
      dir = mkdtempSync(join(tmpdir(), 'agni-prom-'));
      const target = new URL(s.url).host;
      writeFileSync(
        join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  evaluation_interval: 1s',
          'scrape_configs:',
          '  - job_name: agni',
          '    authorization:',
          '      type: Bearer',
          `      credentials_file: ${join(dir, 'token')}`,
          '    static_configs:',
          `      - targets: ['${target}']`,
          '',
        ].join('\n'),
      );
      writeFileSync(join(dir, 'token'), TOKEN, { mode: 0o600 });
      const port = await freePort();
      promUrl = `http://127.0.0.1:${port}`;
      prom = spawn(
        'prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      prom.stderr!.on('data', (c) => {
        promLog = (promLog + c).slice(-4000);
      });
      await until(
        async () => ((await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok ? true : undefined),
        `Prometheus to be ready (its log: ${promLog})`,
      );
    });

    after(async () => {
      if (prom && prom.exitCode === null) {
        const gone = new Promise((r) => prom!.once('exit', r));
        prom.kill('SIGTERM');
        await gone;
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    async function query(q: string): Promise<{
      status: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    }> {
      const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
      return (await r.json()) as never;
    }

    test('the target is up with the bearer token, and a rate of invocations shows the function', async () => {
      await until(async () => {
        const r = await query('up{job="agni"}');
        return r.data.result[0]?.value[1] === '1' ? true : undefined;
      }, `the scrape to succeed (Prometheus log: ${promLog})`);
      // Invocations keep coming while we ask, so the rate window always holds an increase.
      const q = 'sum by (function) (rate(agni_invocations_total{function="m-cold"}[30s]))';
      const rate = await until(async () => {
        assert.equal(await invoke('m-cold'), 200);
        const r = await query(q);
        assert.equal(r.status, 'success');
        const v = Number(r.data.result[0]?.value[1] ?? 0);
        return v > 0 ? r.data.result[0]! : undefined;
      }, 'a positive rate');
      assert.equal(rate.metric.function, 'm-cold');
      assert.ok(Number(rate.value[1]) > 0);
      const others = await query('rate(agni_invocations_total{function="no-such-function"}[30s])');
      assert.deepEqual(others.data.result, [], 'no series for a function never invoked');
    });

    test('every metric and query of docs/grafana-dashboard.json exists in a real scrape and runs', async () => {
      const dash = JSON.parse(readFileSync('docs/grafana-dashboard.json', 'utf8')) as {
        panels: { title: string; targets: { expr: string }[] }[];
        templating: { list: { query?: unknown }[] };
      };
      const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
      assert.ok(exprs.length >= 10);
      const text = await scrape();
      const families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
      const used = new Set(
        [...exprs, JSON.stringify(dash.templating)].flatMap((e) =>
          [...e.matchAll(/\bagni_[a-z0-9_]+/g)].map((m) => m[0]),
        ),
      );
      const family = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
      const missing = [...used].filter((n) => !families.has(n) && !families.has(family(n)));
      assert.deepEqual(missing, [], 'metrics the dashboard uses that the server does not export');
      // Every exported agni family is on the dashboard, so a new metric is not forgotten there.
      const shown = new Set([...used].map(family));
      const unshown = [...families].filter((f) => f.startsWith('agni_') && !shown.has(f));
      assert.deepEqual(unshown, [], 'metrics the dashboard does not show');
      for (const e of exprs) {
        const r = await query(e.replaceAll('$__rate_interval', '1m').replaceAll('$node', '.*'));
        assert.equal(r.status, 'success', `Prometheus runs ${e}`);
      }
    });
  });
});
