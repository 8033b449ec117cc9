/**
 * The web dashboard end to end: a real server with a token, the compiled page at /ui, driven in
 * Debian's headless Chromium by playwright-core. What a person does (sign in, watch a deploy and
 * an invocation arrive, read a waterfall, retry a job's failures) and what the page must never
 * do (show data without the token, log a console error, get past the request guard).
 *
 * AGNI_UPDATE_SCREENSHOTS=1 writes the main pages to docs/img/ (the README and docs/dashboard.md
 * show them); otherwise the screenshots go to a temporary directory, so they are still taken.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Browser, chromium, type Page } from 'playwright-core';
import { summarizeSweep } from '../src/bench/sweep-summary.js';
import { phaseDurations } from '../src/core/phases.js';
import { ContentStore } from '../src/image/oci/content-store.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import type { InvocationRecord } from '../src/store/store.js';
import type { Job, JobItem } from '../src/triggers/jobs-types.js';
import { busyboxLayer, startRegistry, storeImage, type TestRegistry } from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

const summary = (median: number) => ({
  n: 20,
  median,
  p90: median * 1.3,
  mean: median * 1.1,
  min: median * 0.8,
  max: median * 2,
});
const BENCH = {
  benchmark: 'core-invoke',
  date: '2026-01-01T00:00:00.000Z',
  results: { 'agni invoke (runc)': summary(60), 'runc run': summary(45), 'fork+exec': summary(1.2) },
  ratios: { agni_vs_raw_runc: 1.33 },
  phases: {
    'received→queued': summary(0.4),
    'placed→sandbox_ready': summary(3),
    'started→finished': summary(40),
  },
};

/** `agni bench load noop --json`, as saved to bench/results/load-latest.json */
const SWEEP = {
  function: 'noop',
  durationMs: 3000,
  levels: [1, 2, 4].map((c) => ({
    concurrency: c,
    requests: 100 * c,
    ok: 100 * c,
    refused: 0,
    failed: 0,
    seconds: 3,
    throughput: 30 * c,
    latency: { ...summary(30 + c), p99: 60 + c },
  })),
};

/** `agni bench sweep --json` of a two-mode sweep, as `--publish` posts it (built by the sweep's own summarizer) */
const SWEEP_SUMMARY = summarizeSweep(
  ['host', 'runc'].flatMap((mode, k) =>
    [1, 2].flatMap((c) =>
      [1, 2, 3, 4].map((r) => ({
        mode,
        concurrency: c,
        replicate: r,
        wall_ms: (k + 1) * (20 + c * r),
        status: 'ok',
        metrics: { fit_sec: 1 + 0.1 * r * c, r_squared: 0.8 },
        phases: (mode === 'host' ? {} : { agni_ms: 18 + c * r, phase_sandbox_ready_ms: 9 + r }) as Record<
          string,
          number
        >,
      })),
    ),
  ),
  {
    function: 'fit',
    n: 4,
    levels: [1, 2],
    modes: ['host', 'runc'],
    metricCols: ['fit_sec', 'r_squared'],
    notes: [],
  },
);

const CHROMIUM = process.env.AGNI_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'dashboard-test-token-5d1f';
const auth = { authorization: `Bearer ${TOKEN}` };
const SHOTS = process.env.AGNI_UPDATE_SCREENSHOTS === '1' ? resolve('docs/img') : undefined;
// Generous: 2 cores shared with other suites; nothing here asserts on time.
const WAIT = 30_000;

/** Polls `f` until it returns something truthy (the API side of "the page did it"). */
async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = WAIT): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(150);
  }
}

describe('web dashboard in headless Chromium', { timeout: 120_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let benchDir: string;
  let registry: TestRegistry | undefined;
  const problems: string[] = [];
  const shotDir = SHOTS ?? mkdtempSync(join(tmpdir(), 'agni-shots-'));

  const apiGet = async <T>(path: string): Promise<T> => {
    const r = await fetch(server.url + path, { headers: auth });
    const text = await r.text();
    assert.equal(r.status, 200, `${path}: ${r.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const apiPost = async (path: string, body: BodyInit, type: string, extra: Record<string, string> = {}) => {
    const r = await fetch(server.url + path, {
      method: 'POST',
      headers: { ...auth, 'content-type': type, ...extra },
      body,
    });
    assert.ok(r.status < 300, `${path}: ${r.status} ${await r.clone().text()}`);
    return r;
  };
  const deploy = async (yaml: string) => {
    const dir = fnDir({ 'agni.yaml': yaml });
    try {
      await apiPost('/v1/functions', new Uint8Array(await tarOf(dir)), 'application/gzip');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const shot = async (name: string, fullPage = false) => {
    await page.screenshot({ path: join(shotDir, `dashboard-${name}.png`), fullPage });
  };
  /** goes to a dashboard page the way a person does: the navigation link, no reload */
  const nav = async (label: string) => {
    await page.getByRole('link', { name: label, exact: true }).click();
    await page.getByRole('heading', { level: 2 }).first().waitFor();
  };

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `no Chromium at ${CHROMIUM}: run scripts/setup.sh (apt-get install chromium)`,
    );
    assert.ok(existsSync(resolve('dist/ui/index.html')), 'no dashboard build: run npm run build');
    // The bench page's input, in the shapes bench/core-bench.ts and `agni bench load --json` write;
    // for the docs' screenshots the checkout's own latest results instead (never made-up numbers).
    benchDir = mkdtempSync(join(tmpdir(), 'agni-bench-'));
    for (const [name, fixture] of [
      ['core', BENCH],
      ['load', SWEEP],
    ] as const) {
      const real = resolve(`bench/results/${name}-latest.json`);
      if (SHOTS) {
        if (existsSync(real)) copyFileSync(real, join(benchDir, `${name}-latest.json`));
      } else writeFileSync(join(benchDir, `${name}-latest.json`), JSON.stringify(fixture));
    }
    server = await startTestServer({ token: TOKEN, benchDir });
    // The latest sweep, as `agni bench sweep --publish` sends it (for the docs: a real one, if run)
    const realSweep = resolve('bench/results/sweep.json');
    const sweep =
      SHOTS && existsSync(realSweep) ? readFileSync(realSweep, 'utf8') : JSON.stringify(SWEEP_SUMMARY);
    const published = await fetch(`${server.url}/v1/bench/sweeps`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: sweep,
    });
    assert.equal(published.status, 201, await published.clone().text());
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // root in a container: Chromium's own sandbox needs user namespaces it may not have
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      timeout: 60_000,
    });
    page = await browser.newPage({ viewport: { width: 1180, height: 760 } });
    page.setDefaultTimeout(WAIT);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await registry?.close();
    await server?.close();
    if (!SHOTS) rmSync(shotDir, { recursive: true, force: true });
    if (benchDir) rmSync(benchDir, { recursive: true, force: true });
  });

  test('the page is public, its data is not, and the request guard still holds', async () => {
    const index = await fetch(`${server.url}/ui/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(await index.text())?.[1];
    assert.ok(script, 'index.html names its script');
    const js = await fetch(server.url + script);
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await fetch(`${server.url}/ui/jobs/job-x`)).status, 200, 'a page path is the SPA');

    assert.equal((await fetch(`${server.url}/v1/functions`)).status, 401, 'no data without the token');
    assert.equal((await fetch(`${server.url}/v1/bench/latest`)).status, 401);
    assert.equal((await fetch(`${server.url}/v1/bench/sweeps/latest`)).status, 401);
    const post = (body: string, headers: Record<string, string>) =>
      fetch(`${server.url}/v1/bench/sweeps`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    assert.equal((await post(JSON.stringify(SWEEP_SUMMARY), {})).status, 401);
    const bad = await post(JSON.stringify({ ...SWEEP_SUMMARY, levels: [0] }), auth);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /levels/);
    const info = await (await fetch(`${server.url}/ui/server.json`)).json();
    assert.equal(info.tokenRequired, true);
    assert.equal(info.features.nodes, true, 'agni up lists its own node: the Nodes page is there');
    assert.equal((await fetch(`${server.url}/ui/server.json`, { method: 'POST' })).status, 401);

    // A rebound name is refused for the page too (node:http: fetch would not send this Host).
    const rebound = await new Promise<number>((res, rej) =>
      http
        .get(`${server.url}/ui/`, { headers: { host: `evil.example:${new URL(server.url).port}` } }, (r) => {
          r.resume();
          res(r.statusCode ?? 0);
        })
        .on('error', rej),
    );
    assert.equal(rebound, 421);
  });

  test("another site's page cannot POST to the API from the browser", async () => {
    // The attacker's site: another origin (another port) that the browser loads like any page.
    const evil = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><link rel="icon" href="data:,"><p>a page elsewhere</p>');
    });
    await new Promise<void>((res) => evil.listen(0, '127.0.0.1', res));
    const ctx = await browser.newContext();
    try {
      const other = await ctx.newPage();
      const statuses: number[] = [];
      other.on('response', (r) => {
        if (r.url() === `${server.url}/v1/jobs`) statuses.push(r.status());
      });
      await other.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
      // A "simple" request: no preflight, so only the server's guard stands in the way.
      await other.evaluate(async (target) => {
        await fetch(target, {
          method: 'POST',
          mode: 'no-cors',
          headers: { 'content-type': 'text/plain' },
          body: '{"function":"x"}',
        }).catch(() => undefined);
      }, `${server.url}/v1/jobs`);
      await until('the cross-site POST to be answered', async () => statuses.length > 0);
      assert.deepEqual(statuses, [403], 'the guard refused it before the token was looked at');
    } finally {
      await ctx.close();
      evil.close();
    }
  });

  test('a token-protected server shows the login; the token signs in', async () => {
    await page.goto(`${server.url}/ui/`);
    const token = page.getByLabel('Token');
    await token.waitFor();
    assert.equal(await page.getByRole('navigation').count(), 0, 'no navigation before signing in');
    await shot('login');
    // A wrong token is refused by the API and said so; the browser logs that 401, nothing else.
    const before = problems.length;
    await token.fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That is not the server token.').waitFor();
    const refused = problems.splice(before);
    assert.ok(refused.length > 0 && refused.every((p) => /401/.test(p)), refused.join('\n'));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('agni.token')), null);
    await token.fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Functions' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('agni.token')), TOKEN);
    assert.equal(await page.getByRole('link', { name: 'Nodes' }).count(), 1);
    // The page survives a reload: the token is in this tab's sessionStorage.
    await page.reload();
    await page.getByRole('heading', { name: 'Functions' }).waitFor();
  });

  test('a server without a token shows its pages at once, without a login', async () => {
    const open = await startTestServer();
    const ctx = await browser.newContext();
    try {
      const p = await ctx.newPage();
      p.setDefaultTimeout(WAIT);
      await p.goto(`${open.url}/ui/`);
      await p.getByRole('heading', { name: 'Functions' }).waitFor();
      assert.equal(await p.getByLabel('Token').count(), 0);
      assert.equal(await p.getByRole('button', { name: 'Sign out' }).count(), 0);
    } finally {
      await ctx.close();
      await open.close();
    }
  });

  test('a deploy and an invocation appear live; the waterfall shows the API phases', async () => {
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await nav('Functions');
    await deploy(
      'name: dash-hello\nruntime: host\ncommand: \'p=$(cat); echo "note for $p" >&2; echo "hello $p"\'\n',
    );
    await page.locator('[data-function="dash-hello"]').waitFor();

    await nav('Invocations');
    const r = await apiPost('/v1/functions/dash-hello/invoke', 'world', 'application/octet-stream');
    assert.equal(await r.text(), 'hello world\n');
    const id = r.headers.get('agni-invocation-id')!;
    const row = page.locator(`[data-invocation="${id}"]`);
    await row.waitFor();
    await row.locator('.status-succeeded').waitFor();
    assert.equal(
      await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded),
      true,
    );
    await shot('invocations');

    await row.getByRole('link', { name: id }).click();
    await page.locator('[data-waterfall]').waitFor();
    const rec = await apiGet<InvocationRecord>(`/v1/invocations/${id}`);
    const want = phaseDurations(rec.phases);
    const shown = await page
      .locator('[data-phase]')
      .evaluateAll((rows) =>
        rows.map((r) => [r.getAttribute('data-phase'), Number(r.getAttribute('data-at-ms'))]),
      );
    assert.deepEqual(
      shown.map(([p]) => p),
      want.map((w) => w.phase),
    );
    for (const [i, [, at]] of shown.entries()) assert.ok(Math.abs((at as number) - want[i]!.atMs) < 0.01);
    assert.ok(
      want.some((w) => w.phase === 'sandbox_ready'),
      'a real run has the sandbox phases',
    );
    assert.equal(await page.locator('[data-tail="stdout"]').textContent(), 'hello world\n');
    assert.equal(await page.locator('[data-tail="stderr"]').textContent(), 'note for world\n');
    await shot('invocation');

    // The filters ask the API: a failed-only list does not have it.
    await nav('Invocations');
    await page.locator('select[name="status"]').selectOption('failed');
    await page.getByText('No invocations match.').waitFor();
    await page.locator('select[name="status"]').selectOption('succeeded');
    await page.locator(`[data-invocation="${id}"]`).waitFor();
  });

  test('a failed job is retried from the page', async () => {
    await deploy(
      'name: dash-picky\nruntime: host\ncommand: \'p=$(cat); case "$p" in *bad*) echo "refusing $p" >&2; exit 3;; esac; echo "ok $p"\'\n',
    );
    const job = (await (
      await apiPost(
        '/v1/jobs',
        JSON.stringify({ function: 'dash-picky', concurrency: 2 }),
        'application/json',
      )
    ).json()) as Job;
    await apiPost(`/v1/jobs/${job.id}/inputs`, 'one\nbad two\nthree\n', 'text/plain', {
      'agni-input-split': 'lines',
    });
    await apiPost(`/v1/jobs/${job.id}/start`, '', 'application/octet-stream');
    await until('the job to fail', async () => (await apiGet<Job>(`/v1/jobs/${job.id}`)).status === 'failed');

    await nav('Jobs');
    const row = page.locator(`[data-job="${job.id}"]`);
    await row.locator('.status-failed').waitFor();
    await row.getByRole('link', { name: job.id }).click();
    await page.locator('[data-table="failures"] [data-item="1"]').waitFor();
    await shot('job');

    // Fix the function, then retry from the page: the API shows a second run of the failed item only.
    await deploy('name: dash-picky\nruntime: host\ncommand: \'p=$(cat); echo "ok $p"\'\n');
    await page.getByRole('button', { name: 'Retry 1 failed' }).click();
    const done = await until('the retry to finish', async () => {
      const j = await apiGet<Job>(`/v1/jobs/${job.id}`);
      return j.run === 2 && j.status === 'succeeded' && j;
    });
    assert.equal(done.counts.failed, 0);
    const items = (await apiGet<{ items: JobItem[] }>(`/v1/jobs/${job.id}/items`)).items;
    assert.deepEqual(
      items.map((i) => [i.status, i.attempts]),
      [
        ['succeeded', 1],
        ['succeeded', 2],
        ['succeeded', 1],
      ],
    );
    await page.locator('[data-run]', { hasText: '2' }).waitFor();
    await page.getByText('None.').waitFor();
  });

  test('triggers with their next fire', async () => {
    await deploy(
      [
        'name: dash-nightly',
        'runtime: host',
        "command: 'true'",
        'triggers:',
        '  - cron: "30 8 * * MON-FRI"',
        '    timezone: Europe/Paris',
        '  - webhook: /dash/push',
        '',
      ].join('\n'),
    );
    const { triggers } = await apiGet<{ triggers: { index: number; nextFireLocal: string | null }[] }>(
      '/v1/triggers?function=dash-nightly',
    );
    const cron = triggers.find((t) => t.index === 0)!;
    assert.ok(cron.nextFireLocal, 'the API has a next fire for the cron');
    await nav('Triggers');
    assert.equal(
      (await page.locator('[data-trigger="dash-nightly#0"] [data-next-fire]').textContent())?.trim(),
      cron.nextFireLocal,
    );
    assert.match(
      (await page.locator('[data-trigger="dash-nightly#1"]').textContent()) ?? '',
      /POST \/hooks\/dash\/push/,
    );
    await shot('triggers');
  });

  test('images with their architectures, and the similarity heat map the API computes', async () => {
    // Real images in a real registry, pulled by the server: a busybox image, another whose layer
    // differs (nothing shared), and the first again under another name (everything shared).
    registry = await startRegistry();
    const scratch = mkdtempSync(join(tmpdir(), 'agni-dash-img-'));
    try {
      const src = new ContentStore(scratch);
      const base = await busyboxLayer();
      const a = await storeImage(src, base);
      const b = await storeImage(src, await busyboxLayer(4096));
      const refs = [`${registry.host}/dash/base:1`, `${registry.host}/dash/more:1`];
      const c = a;
      refs.push(`${registry.host}/dash/same:1`);
      for (const [i, img] of [a, b, c].entries()) {
        await pushImage(
          new RegistryClient({ host: registry.host }),
          src,
          img.manifestDigest,
          parseReference(refs[i]!),
        );
        const r = await apiPost('/v1/oci/pull', JSON.stringify({ ref: refs[i] }), 'application/json');
        const last = (await r.text()).trim().split('\n').at(-1)!;
        assert.equal(JSON.parse(last).type, 'done', last);
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    const sim = await apiGet<{ names: string[]; values: number[][] }>('/v1/oci/similarity');
    assert.equal(sim.names.length, 3);

    await nav('Images');
    for (const n of sim.names) await page.locator(`[data-image="${n}"]`).waitFor();
    assert.match((await page.locator('[data-image]').first().textContent()) ?? '', /amd64/);
    const cells = await page
      .locator('.heat-cell')
      .evaluateAll((c) => c.map((e) => Number(e.getAttribute('data-value'))));
    assert.deepEqual(
      cells,
      sim.values.flat().map((v) => Number(v.toFixed(3))),
    );
    assert.ok(cells.some((v) => v === 1) && cells.some((v) => v < 1), 'alike and unlike images both shown');
  });

  test('every page loads without a console error', async () => {
    for (const [label, heading] of [
      ['Functions', 'Functions'],
      ['Invocations', 'Invocations'],
      ['Jobs', 'Jobs'],
      ['Triggers', 'Triggers'],
      ['Images', 'Images'],
      ['Nodes', 'Nodes'],
      ['Bench', 'Benchmarks'],
    ] as const) {
      await nav(label);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      await page
        .locator('.muted', { hasText: /^Loading/ })
        .first()
        .waitFor({ state: 'detached' });
      assert.equal(await page.locator('[role="alert"]').count(), 0, `${label}: an error is shown`);
      if (label === 'Nodes') {
        // agni up's own node, as GET /v1/nodes lists it
        const api = await apiGet<{ nodes: { name: string; state: string }[] }>('/v1/nodes');
        const row = page.locator(`[data-table="nodes"] tr[data-node="${api.nodes[0]!.name}"]`);
        await row.waitFor();
        assert.equal(await row.locator('[data-state]').textContent(), api.nodes[0]!.state);
      }
      if (label === 'Bench') {
        // the published sweep comes first on the page (its own screenshot for docs/dashboard.md)
        await page.locator('[data-bench="sweep"] [data-chart="sweep-wall_ms"] canvas').waitFor();
        // its header and first metric (the rest repeats the shape)
        const box = await page.locator('[data-bench="sweep"]').evaluate((e) => {
          const r = e.getBoundingClientRect();
          const first = e.querySelector('figure')!.getBoundingClientRect();
          return {
            x: r.left + scrollX,
            y: r.top + scrollY,
            width: r.width,
            height: first.bottom - r.top + 8,
          };
        });
        await page.screenshot({ path: join(shotDir, 'dashboard-sweep.png'), fullPage: true, clip: box });
        // one chart per group of summaries, each drawn (uPlot draws on a canvas)
        await page.locator('[data-bench="core"] [data-chart] canvas').first().waitFor();
        if (!SHOTS) {
          assert.deepEqual(
            await page
              .locator('[data-bench="core"] [data-chart]')
              .evaluateAll((c) => c.map((e) => e.getAttribute('data-chart'))),
            ['results', 'phases'],
          );
          assert.equal(await page.locator('[data-bench="core"] [data-chart] canvas').count(), 2);
          // a load sweep: one line chart against concurrency, no bar chart per level
          await page.locator('[data-bench="load"] [data-chart="sweep"] canvas').waitFor();
          assert.equal(await page.locator('[data-bench="load"] [data-chart]').count(), 1);
          // the published sweep: a box chart per metric of its own, Agni's phases folded away
          await page.locator('[data-bench="sweep"] [data-chart="sweep-wall_ms"] canvas').waitFor();
          assert.deepEqual(
            await page
              .locator('[data-bench="sweep"] [data-chart]')
              .evaluateAll((c) => c.map((e) => e.getAttribute('data-chart'))),
            ['sweep-wall_ms', 'sweep-fit_sec', 'sweep-r_squared'],
          );
          const runc2 = await page
            .locator('[data-table="sweep-wall_ms"] tr', { hasText: /^2/ })
            .locator('[data-mode="runc"]')
            .textContent();
          const cell = SWEEP_SUMMARY.cells.find(
            (c) => c.metric === 'wall_ms' && c.mode === 'runc' && c.concurrency === 2,
          )!;
          assert.match(runc2 ?? '', new RegExp(`×${cell.ratio_to_host!.toFixed(2)}`));
          assert.equal(cell.ratio_to_host, 2);
          await page.locator('[data-sweep-phases] summary').click();
          await page.locator('[data-bench="sweep"] [data-chart="sweep-agni_ms"] canvas').waitFor();
          assert.equal(await page.locator('[data-bench="sweep"] [data-chart] canvas').count(), 5);
        }
      }
      if (label !== 'Triggers') await shot(label.toLowerCase(), label === 'Bench');
    }
    await page.goto(`${server.url}/ui/functions/dash-picky`);
    await page.locator('[data-version="2"][open]').waitFor();
    const manifest = await page.locator('[data-version="2"] [data-manifest]').innerText();
    assert.match(manifest, /runtime\s+host/);
    assert.ok(manifest.includes('["/bin/sh","-c","p=$(cat); echo \\"ok $p\\""]'), manifest);
    await shot('function');
    assert.deepEqual(problems, [], 'the page logged no error and no request of it failed');
  });
});
