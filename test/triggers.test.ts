/**
 * Triggers end to end: a real embedded server (runc sandboxes, SQLite, the durable async queue),
 * a real NATS server at 127.0.0.1:4222 and real HTTP webhook calls.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { startEmbedded } from '../src/main/embedded.js';
import type { TriggersResponse, TriggerView } from '../src/triggers/trigger-view.js';
import { signBody } from '../src/triggers/webhook-auth.js';
import { CLI } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

const NATS_URL = 'nats://127.0.0.1:4222';
const SECRET = 'correct-horse-battery';

const yaml = (name: string, command: string, triggers: string) =>
  `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\ntriggers:\n${triggers}`;

/** a name (and subject prefix) no other test or run shares */
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

/** the real CLI, stdin from /dev/null; resolves with its stdout once it exits 0 */
function agni(args: string[], url: string): Promise<string> {
  const p = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, AGNI_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => {
    out += d;
  });
  p.stderr.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) =>
    p.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`agni ${args.join(' ')}: exit ${code}: ${err}`)),
    ),
  );
}

async function upload(url: string, files: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${url}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip', ...headers },
    body: new Uint8Array(await tarOf(fnDir(files))),
  });
}

/** a request sent exactly as given (path not normalized, no content-type unless set) */
function raw(
  url: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, async (res) => {
      let text = '';
      for await (const c of res) text += c;
      resolve({ status: res.statusCode ?? 0, text });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function listTriggers(url: string, fn?: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${url}/v1/triggers${fn ? `?function=${fn}` : ''}`, { headers });
  assert.equal(r.status, 200);
  return (await r.json()) as TriggersResponse;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function invocationsOf(url: string, fn: string): Promise<{ id: string; createdAt: number }[]> {
  const r = await fetch(`${url}/v1/functions/${fn}/invocations?limit=1000`);
  return ((await r.json()) as { invocations: { id: string; createdAt: number }[] }).invocations;
}

describe('triggers', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ slots: 2 });
  });
  after(async () => {
    await s?.close();
  });

  test('a seconds-level cron fires durable async invocations whose results show up; removal stops it', async () => {
    const fn = unique('tick');
    await deployFiles(s.url, {
      'agni.yaml': yaml(
        fn,
        'cat; echo " from $AGNI_FUNCTION"',
        '  - cron: "* * * * * *"\n    payload: tick\n',
      ),
    });
    const row = await until('two successful cron runs', async () => {
      const t = (await listTriggers(s.url, fn)).triggers[0];
      return t && t.fires >= 2 && t.lastStatus === 'succeeded' ? t : undefined;
    });
    assert.equal(row.kind, 'cron');
    assert.equal(row.state, 'scheduled');
    assert.equal(row.spec, '* * * * * * (UTC)');
    assert.match(row.nextFireLocal ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    assert.ok(Date.parse(row.nextFireAt!) > Date.parse(row.lastFiredAt!));
    // The invocation it names ran the payload through the function and is a cron submission.
    const inv = (await (await fetch(`${s.url}/v1/invocations/${row.lastInvocationId}`)).json()) as {
      status: string;
      stdoutTail: string;
    };
    assert.equal(inv.status, 'succeeded');
    assert.equal(inv.stdoutTail, `tick from ${fn}\n`);
    const st = (await (await fetch(`${s.url}/v1/invocations/${row.lastInvocationId}/async`)).json()) as {
      source: string;
      idempotencyKey: string;
    };
    assert.equal(st.source, 'cron');
    assert.equal(st.idempotencyKey, `cron:${fn}:0:${row.lastFiredAt}`);
    // One invocation per scheduled second: no tick ran twice.
    const keys = new Set<string>();
    for (const i of await invocationsOf(s.url, fn)) {
      const a = (await (await fetch(`${s.url}/v1/invocations/${i.id}/async`)).json()) as {
        idempotencyKey: string;
      };
      assert.ok(!keys.has(a.idempotencyKey), `tick ${a.idempotencyKey} ran twice`);
      keys.add(a.idempotencyKey);
    }

    assert.equal((await fetch(`${s.url}/v1/functions/${fn}`, { method: 'DELETE' })).status, 200);
    assert.deepEqual((await listTriggers(s.url, fn)).triggers, []);
    const settle = Date.now();
    await new Promise((r) => setTimeout(r, 2500));
    // The function is gone, so its invocations are listed by name still; none were created after removal.
    const late = (await invocationsOf(s.url, fn)).filter((i) => i.createdAt > settle);
    assert.deepEqual(late, []);
  });

  test('a redeploy restarts changed triggers and keeps state of unchanged ones', async () => {
    const fn = unique('redeploy');
    await deployFiles(s.url, {
      'agni.yaml': yaml(
        fn,
        'cat',
        '  - cron: "* * * * * *"\n  - cron: "0 0 1 1 *"\n    timezone: Asia/Tokyo\n',
      ),
    });
    await until('a first fire', async () => {
      const t = (await listTriggers(s.url, fn)).triggers[0];
      return t && t.fires >= 1 ? t : undefined;
    });
    const before2 = (await listTriggers(s.url, fn)).triggers;
    assert.equal(before2[1]!.nextFireLocal?.endsWith('00:00:00 Asia/Tokyo'), true);
    assert.match(before2[1]!.nextFireLocal!, /^\d{4}-01-01 /);
    // Trigger 0 changes (now yearly), trigger 1 stays: 0 starts fresh and stops firing every second.
    await deployFiles(s.url, {
      'agni.yaml': yaml(
        fn,
        'cat',
        '  - cron: "0 0 1 1 *"\n  - cron: "0 0 1 1 *"\n    timezone: Asia/Tokyo\n',
      ),
    });
    const after2 = (await listTriggers(s.url, fn)).triggers;
    assert.equal(after2.length, 2);
    assert.equal(after2[0]!.version, 2);
    assert.equal(after2[0]!.fires, 0);
    assert.equal(after2[0]!.lastFiredAt, null);
    assert.equal(after2[1]!.nextFireAt, before2[1]!.nextFireAt);
    const n = (await invocationsOf(s.url, fn)).length;
    await new Promise((r) => setTimeout(r, 2200));
    assert.ok((await invocationsOf(s.url, fn)).length <= n + 1, 'at most a tick in flight at the redeploy');
    await fetch(`${s.url}/v1/functions/${fn}`, { method: 'DELETE' });
  });

  test('NATS request/reply: the message is the payload, stdout the answer, the outcome in headers; reply: gets it too', async () => {
    const fn = unique('nats');
    const subject = `agni.test.${fn}.in`;
    const replyTo = `agni.test.${fn}.out`;
    await deployFiles(s.url, {
      'agni.yaml': yaml(
        fn,
        'if [ "$(cat)" = fail ]; then echo bad >&2; exit 3; fi; echo done',
        `  - subject: ${subject}\n    reply: ${replyTo}\n`,
      ),
    });
    const nc: NatsConnection = await connect({ servers: NATS_URL });
    try {
      const published: { data: string; status?: string }[] = [];
      const sub = nc.subscribe(replyTo, {
        callback: (_e, m) => published.push({ data: m.string(), status: m.headers?.get('Agni-Status') }),
      });
      await nc.flush();
      await until('the subscription', async () => {
        const r = await listTriggers(s.url, fn);
        return r.nats.state === 'connected' && r.triggers[0]?.state === 'subscribed' ? r : undefined;
      });
      const res = await nc.request(subject, new TextEncoder().encode('hello'), { timeout: 15_000 });
      assert.equal(res.string(), 'done\n');
      assert.equal(res.headers?.get('Agni-Status'), 'succeeded');
      assert.equal(res.headers?.get('Agni-Exit-Code'), '0');
      assert.equal(res.headers?.get('Agni-Function'), fn);
      const id = res.headers?.get('Agni-Invocation-Id') ?? '';
      assert.match(id, /^inv-/);
      const inv = (await (await fetch(`${s.url}/v1/invocations/${id}`)).json()) as { payloadBytes: number };
      assert.equal(inv.payloadBytes, 5);

      const bad = await nc.request(subject, new TextEncoder().encode('fail'), { timeout: 15_000 });
      assert.equal(bad.headers?.get('Agni-Status'), 'failed');
      assert.equal(bad.headers?.get('Agni-Exit-Code'), '3');
      assert.equal(bad.headers?.get('Agni-Error-Code'), 'function_failed');
      assert.equal(bad.headers?.get('Nats-Service-Error-Code'), '502');

      await until('both results on the reply subject', async () =>
        published.length >= 2 ? true : undefined,
      );
      assert.deepEqual(published, [
        { data: 'done\n', status: 'succeeded' },
        { data: '', status: 'failed' },
      ]);
      const row = (await listTriggers(s.url, fn)).triggers[0]!;
      assert.equal(row.fires, 2);
      assert.equal(row.lastStatus, 'failed');
      assert.equal(row.lastError, 'exited with code 3');
      sub.unsubscribe();

      // Removal unsubscribes: with no responder left, a request fails fast.
      await fetch(`${s.url}/v1/functions/${fn}`, { method: 'DELETE' });
      await until('NATS no longer needed', async () => {
        const r = await listTriggers(s.url);
        return !r.nats.needed ? r : undefined;
      });
      await assert.rejects(nc.request(subject, new TextEncoder().encode('x'), { timeout: 2000 }));
    } finally {
      await nc.close();
    }
  });

  test('two servers share a subject through the queue group: each message is handled once', async () => {
    const other = await startTestServer({ slots: 2 });
    const fn = unique('shared');
    const subject = `agni.test.${fn}`;
    const nc = await connect({ servers: NATS_URL });
    try {
      for (const srv of [s, other]) {
        await deployFiles(srv.url, { 'agni.yaml': yaml(fn, 'cat', `  - subject: ${subject}\n`) });
        await until('the subscription', async () =>
          (await listTriggers(srv.url, fn)).triggers[0]?.state === 'subscribed' ? true : undefined,
        );
      }
      const n = 20;
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          nc.request(subject, new TextEncoder().encode(`m${i}`), { timeout: 30_000 }).then((m) => m.string()),
        ),
      );
      assert.deepEqual(
        answers,
        Array.from({ length: n }, (_, i) => `m${i}`),
      );
      const counts = await Promise.all(
        [s, other].map(async (srv) => (await listTriggers(srv.url, fn)).triggers[0]!.fires),
      );
      assert.equal(counts[0]! + counts[1]!, n, `handled ${counts.join(' + ')} times`);
      assert.ok(counts[0]! > 0 && counts[1]! > 0, `both servers took messages (${counts.join(', ')})`);
    } finally {
      await nc.close();
      await fetch(`${s.url}/v1/functions/${fn}`, { method: 'DELETE' });
      await other.close();
    }
  });

  test('subject triggers stay under the subject prefix: `>` is refused, agni.<x>.> never sees other.x', async () => {
    const fn = unique('prefix');
    for (const [bad, field] of [
      ['  - subject: ">"\n', 'triggers.0.subject'],
      ['  - subject: "*.x"\n', 'triggers.0.subject'],
      [`  - subject: other.${fn}\n`, 'triggers.0.subject'],
      [`  - subject: agni.${fn}.in\n    reply: other.${fn}\n`, 'triggers.0.reply'],
      [`  - subject: agni.${fn}.in\n    queue: other-group\n`, 'triggers.0.queue'],
    ] as const) {
      const r = await upload(s.url, { 'agni.yaml': yaml(fn, 'cat', bad) });
      const body = (await r.json()) as { error: { code: string; message: string; hint: string } };
      assert.equal(r.status, 400, bad);
      assert.equal(body.error.code, 'manifest_invalid');
      assert.ok(body.error.message.includes(`\`${field}\``), body.error.message);
      assert.match(body.error.message, /outside the subject prefix agni\./);
      assert.match(body.error.hint, /--subject-prefix/);
    }
    assert.equal((await fetch(`${s.url}/v1/functions/${fn}`)).status, 404, 'nothing was deployed');

    await deployFiles(s.url, { 'agni.yaml': yaml(fn, 'cat', `  - subject: "agni.${fn}.>"\n`) });
    const nc = await connect({ servers: NATS_URL });
    try {
      await until('the subscription', async () =>
        (await listTriggers(s.url, fn)).triggers[0]?.state === 'subscribed' ? true : undefined,
      );
      // Outside the prefix: nobody of this server answers.
      await assert.rejects(nc.request(`other.${fn}.x`, new TextEncoder().encode('x'), { timeout: 1000 }));
      const res = await nc.request(`agni.${fn}.a.b`, new TextEncoder().encode('inside'), { timeout: 15_000 });
      assert.equal(res.string(), 'inside');
      assert.equal((await listTriggers(s.url, fn)).triggers[0]!.fires, 1);
    } finally {
      await nc.close();
      await fetch(`${s.url}/v1/functions/${fn}`, { method: 'DELETE' });
    }
  });

  test('webhooks: open, secret header, HMAC signature, wrong secret, async, conflicts, redaction', async () => {
    const open = unique('hook-open');
    const closed = unique('hook-closed');
    await deployFiles(s.url, { 'agni.yaml': yaml(open, 'tr a-z A-Z', `  - webhook: /t/${open}\n`) });
    await deployFiles(s.url, {
      'agni.yaml': yaml(closed, 'wc -c', `  - webhook: /t/${closed}\n    secret: ${SECRET}\n`),
    });
    const hook = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${s.url}/hooks/t/${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });

    const r1 = await hook(open, '{"a":"b"}');
    assert.equal(r1.status, 200);
    assert.equal(await r1.text(), '{"A":"B"}');
    assert.match(r1.headers.get('agni-invocation-id') ?? '', /^inv-/);

    const r2 = await hook(closed, 'four', { 'x-agni-secret': SECRET });
    assert.equal(r2.status, 200);
    assert.equal((await r2.text()).trim(), '4');

    const body = '{"ref":"refs/heads/main"}';
    const r3 = await hook(closed, body, { 'x-hub-signature-256': signBody(SECRET, Buffer.from(body)) });
    assert.equal(r3.status, 200);
    assert.equal((await r3.text()).trim(), String(body.length));

    for (const headers of <Record<string, string>[]>[
      {},
      { 'x-agni-secret': 'wrong-secret-value' },
      { 'x-hub-signature-256': signBody('not-the-secret', Buffer.from(body)) },
    ]) {
      const r = await hook(closed, body, headers);
      assert.equal(r.status, 401);
      const e = ((await r.json()) as { error: { code: string; message: string } }).error;
      assert.equal(e.code, 'unauthorized');
      assert.match(e.message, /secret|signature/i);
      assert.ok(!JSON.stringify(e).includes(SECRET));
    }
    const nowhere = await hook('no-such-hook', '');
    assert.equal(nowhere.status, 404);

    // ?async=1: accepted at once, result later through the async API.
    const ra = await hook(open, 'later', { 'idempotency-key': 'k1' });
    assert.equal(ra.status, 200);
    const rq = await fetch(`${s.url}/hooks/t/${open}?async=1`, {
      method: 'POST',
      body: 'later',
      headers: { 'idempotency-key': 'k1' },
    });
    assert.equal(rq.status, 202);
    const acc = (await rq.json()) as { id: string; duplicate: boolean };
    const again = (await (
      await fetch(`${s.url}/hooks/t/${open}?async=1`, {
        method: 'POST',
        body: 'later',
        headers: { 'idempotency-key': 'k1' },
      })
    ).json()) as { id: string; duplicate: boolean };
    assert.deepEqual(again, { ...again, id: acc.id, duplicate: true });
    const res = await fetch(`${s.url}/v1/invocations/${acc.id}/result?wait=20`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'LATER');

    // A second function cannot take a path that is served already.
    const thief = unique('thief');
    const rc = await upload(s.url, {
      'agni.yaml': yaml(thief, 'cat', `  - cron: "0 0 1 1 *"\n  - webhook: /t/${closed}\n`),
    });
    assert.equal(rc.status, 409);
    assert.match(
      ((await rc.json()) as { error: { message: string } }).error.message,
      /`triggers\.1\.webhook`: .* is already the webhook of function /,
    );
    assert.equal((await fetch(`${s.url}/v1/functions/${thief}`)).status, 404);

    // The secret never comes back from the API.
    for (const path of [
      `/v1/functions/${closed}`,
      `/v1/functions/${closed}/versions`,
      '/v1/functions',
      '/v1/triggers',
    ]) {
      const text = await (await fetch(`${s.url}${path}`)).text();
      assert.ok(!text.includes(SECRET), `${path} leaks the secret`);
      assert.ok(text.includes('"***"'), `${path} shows the secret masked`);
    }
    const rows = (await listTriggers(s.url)).triggers.filter((t: TriggerView) => t.function === closed);
    assert.equal(rows[0]!.spec, `POST /hooks/t/${closed} (secret)`);
    assert.equal(rows[0]!.lastStatus, 'succeeded');
    assert.equal(rows[0]!.fires, 2);

    await fetch(`${s.url}/v1/functions/${open}`, { method: 'DELETE' });
    await fetch(`${s.url}/v1/functions/${closed}`, { method: 'DELETE' });
    assert.equal((await hook(open, 'x')).status, 404);
  });

  test('agni triggers lists them for people and as JSON', async () => {
    const fn = unique('cli');
    await deployFiles(s.url, {
      'agni.yaml': yaml(
        fn,
        'cat',
        '  - cron: "30 8 * * MON-FRI"\n    timezone: Europe/Paris\n  - webhook: /cli-test\n',
      ),
    });
    const stdout = await agni(['triggers', fn], s.url);
    assert.match(
      stdout,
      /^FUNCTION\s+#\s+KIND\s+SPEC\s+STATE\s+NEXT FIRE\s+LAST FIRED\s+LAST RESULT\s+INVOCATION$/m,
    );
    assert.match(
      stdout,
      new RegExp(
        `${fn}\\s+0\\s+cron\\s+30 8 \\* \\* MON-FRI \\(Europe/Paris\\)\\s+scheduled\\s+\\d{4}-\\d\\d-\\d\\d 08:30:00 Europe/Paris \\(in .+\\)\\s+never`,
      ),
    );
    assert.match(stdout, new RegExp(`${fn}\\s+1\\s+webhook\\s+POST /hooks/cli-test\\s+ready`));
    const json = await agni(['triggers', '--json'], s.url);
    const r = JSON.parse(json) as TriggersResponse;
    assert.ok(r.triggers.some((t) => t.function === fn && t.kind === 'webhook'));
    assert.equal(typeof r.nats.state, 'string');
    await fetch(`${s.url}/v1/functions/${fn}`, { method: 'DELETE' });
  });
});

describe('triggers with a server token', () => {
  let s: TestServer;
  const token = 'server-token-123';
  before(async () => {
    s = await startTestServer({ token });
  });
  after(async () => {
    await s?.close();
  });

  test('webhooks are reachable without the token; every other route still needs it', async () => {
    const fn = unique('tokhook');
    const auth = { authorization: `Bearer ${token}` };
    const r = await upload(s.url, { 'agni.yaml': yaml(fn, 'cat', '  - webhook: /public\n') }, auth);
    assert.equal(r.status, 201);
    const hook = await fetch(`${s.url}/hooks/public`, { method: 'POST', body: 'no token needed' });
    assert.equal(hook.status, 200);
    assert.equal(await hook.text(), 'no token needed');
    // Callers that send no content-type at all still get their body through.
    assert.deepEqual(await raw(s.url, 'POST', '/hooks/public', 'bare body'), {
      status: 200,
      text: 'bare body',
    });
    assert.equal((await fetch(`${s.url}/v1/triggers`)).status, 401);
    assert.equal(
      (await fetch(`${s.url}/v1/functions/${fn}/invoke`, { method: 'POST', body: 'x' })).status,
      401,
    );
    // Dot segments do not escape the hooks prefix (sent raw: fetch would normalize them away).
    for (const method of ['GET', 'POST']) {
      for (const path of [
        '/hooks/../v1/functions',
        '/hooks/x/../../v1/triggers',
        '/hooks/%2e%2e/v1/functions',
      ]) {
        assert.equal((await raw(s.url, method, path)).status, 404, `${method} ${path}`);
      }
    }
    assert.equal((await listTriggers(s.url, fn, auth)).triggers.length, 1);
  });
});

describe('triggers across a restart and without NATS', () => {
  test('state survives a restart, missed ticks are not back-filled, and an unreachable NATS is shown', async () => {
    const home = mkdtempSync(join(tmpdir(), 'agni-trig-'));
    const start = (natsUrl: string) =>
      startEmbedded({
        home,
        host: '127.0.0.1',
        port: 0,
        backend: 'runc',
        slots: 2,
        maxPayloadBytes: 1024 * 1024,
        natsUrl,
        logger: pino({ level: 'silent' }),
      });
    let s = await start(NATS_URL);
    const fn = unique('restart');
    try {
      await deployFiles(s.url, {
        'agni.yaml': yaml(fn, 'cat', `  - cron: "* * * * * *"\n  - subject: agni.test.${fn}\n`),
      });
      await until('a cron run', async () => {
        const t = (await listTriggers(s.url, fn)).triggers[0];
        return t && t.lastStatus === 'succeeded' ? t : undefined;
      });
    } finally {
      await s.close();
    }
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 4000));
    const restartAt = Date.now();
    // Port 1 on loopback: nothing listens, so the connection is refused at once.
    s = await start('nats://127.0.0.1:1');
    try {
      const first = (await listTriggers(s.url, fn)).triggers[0]!;
      assert.ok(
        first.fires >= 1 && first.lastFiredAt !== null,
        'what it did last is still known after the restart',
      );
      assert.ok(Date.parse(first.lastFiredAt!) < stoppedAt || Date.parse(first.lastFiredAt!) >= restartAt);
      await new Promise((r) => setTimeout(r, 1500));
      const invs = await invocationsOf(s.url, fn);
      const listedAt = Date.now();
      assert.deepEqual(
        invs.filter((i) => i.createdAt > stoppedAt && i.createdAt < restartAt),
        [],
        'nothing ran while the server was down',
      );
      // Back-filling would queue the ~4 missed seconds at once; only the ticks since the restart run.
      const since = invs.filter((i) => i.createdAt >= restartAt).length;
      const ticks = Math.floor((listedAt - restartAt) / 1000) + 1;
      assert.ok(since <= ticks, `${since} runs in the ${listedAt - restartAt} ms since the restart`);
      const r = await until('NATS shown as unreachable', async () => {
        const x = await listTriggers(s.url, fn);
        return x.nats.state === 'unreachable' ? x : undefined;
      });
      assert.equal(r.nats.needed, true);
      // refused at once on a quiet machine; on a loaded one the client may give up first (TIMEOUT)
      assert.match(r.nats.error ?? '', /CONNECTION_REFUSED|refused|TIMEOUT/i);
      assert.equal(r.triggers[1]!.state, 'waiting for NATS (unreachable)');
    } finally {
      await s.close();
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('a subject trigger deployed before the prefix changed is not subscribed after a restart', async () => {
    const home = mkdtempSync(join(tmpdir(), 'agni-trig-'));
    const start = (subjectPrefix?: string) =>
      startEmbedded({
        home,
        host: '127.0.0.1',
        port: 0,
        backend: 'runc',
        slots: 1,
        maxPayloadBytes: 1024 * 1024,
        natsUrl: NATS_URL,
        subjectPrefix,
        logger: pino({ level: 'silent' }),
      });
    const fn = unique('moved');
    let s = await start();
    try {
      await deployFiles(s.url, { 'agni.yaml': yaml(fn, 'cat', `  - subject: agni.test.${fn}\n`) });
    } finally {
      await s.close();
    }
    s = await start('team1.');
    try {
      const t = (await listTriggers(s.url, fn)).triggers[0]!;
      assert.equal(t.state, 'refused: subject outside the subject prefix team1.');
      const nc = await connect({ servers: NATS_URL });
      try {
        await assert.rejects(nc.request(`agni.test.${fn}`, new TextEncoder().encode('x'), { timeout: 1000 }));
      } finally {
        await nc.close();
      }
    } finally {
      await s.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
