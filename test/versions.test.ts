/**
 * Versions, aliases and rollback end to end: a real embedded server (runc, SQLite), real HTTP and
 * the real CLI. Each version of a function prints its own word, so the output says which one ran.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InvocationRecord } from '../src/store/store.js';
import type { Job } from '../src/triggers/jobs-types.js';
import { runCli } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

const yaml = (name: string, word: string, extra = '') =>
  `name: ${name}\nruntime: host\ncommand: ["sh", "-c", "cat >/dev/null; printf ${word}"]\n${extra}`;

describe('versions and aliases', () => {
  let s: TestServer;
  const json = (method: string, path: string, body?: unknown) =>
    fetch(`${s.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const call = async (target: string, data = '') => {
    const r = await fetch(`${s.url}/v1/functions/${encodeURIComponent(target)}/invoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    const text = await r.text();
    const id = r.headers.get('agni-invocation-id');
    const rec = id
      ? ((await (await fetch(`${s.url}/v1/invocations/${id}`)).json()) as InvocationRecord)
      : undefined;
    return { status: r.status, text, rec, ran: [r.headers.get('agni-version'), r.headers.get('agni-alias')] };
  };
  const cli = (...args: string[]) => runCli(s.url, args);
  const upload = async (agniYaml: string) =>
    fetch(`${s.url}/v1/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(fnDir({ 'agni.yaml': agniYaml }))),
    });

  before(async () => {
    s = await startTestServer({ slots: 4 });
    await deployFiles(s.url, { 'agni.yaml': yaml('v', 'one') });
    await deployFiles(s.url, { 'agni.yaml': yaml('v', 'two') });
  });
  after(() => s.close());

  test('NAME@N runs version N, NAME the live one; records say which version ran', async () => {
    const one = await call('v@1');
    assert.equal(one.text, 'one');
    assert.equal(one.rec?.version, 1);
    assert.equal(one.rec?.alias, null);
    assert.equal((await call('v@2')).text, 'two');
    const live = await call('v');
    assert.deepEqual([live.text, live.rec?.version], ['two', 2]);
    assert.deepEqual(live.ran, ['2', null]);
    assert.equal((await call('v@$LATEST')).text, 'two');
  });

  test('bad qualifiers are refused naming the path; missing versions and aliases are 404s with their own codes', async () => {
    const bad = await call('v@0');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /path `NAME`: expected a version number \(1, 2, ...\), got \\"0\\"/);
    const missing = await call('v@9');
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.text).error.code, 'version_not_found');
    const noAlias = await call('v@beta');
    assert.equal(noAlias.status, 404);
    assert.equal(JSON.parse(noAlias.text).error.code, 'alias_not_found');
    // Alias routes take JSON only, and name the field that is wrong.
    const plain = await fetch(`${s.url}/v1/functions/v/aliases/prod`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: '{"version":1}',
    });
    assert.equal(plain.status, 415);
    const r = await json('PUT', '/v1/functions/v/aliases/prod', { version: 7 });
    assert.equal(r.status, 404);
    assert.match((await r.json()).error.message, /field `version`: v has no version 7/);
    const w = await json('PUT', '/v1/functions/v/aliases/prod', {
      version: 1,
      split: { version: 2, weight: 1 },
    });
    assert.equal(w.status, 400);
    assert.match((await w.json()).error.message, /field `split.weight`/);
    const reserved = await json('PUT', '/v1/functions/v/aliases/latest', { version: 1 });
    assert.equal(reserved.status, 400);
    assert.equal((await json('GET', '/v1/functions/v/aliases')).status, 200);
  });

  test('an alias runs the version it points to, and the record names it (sync and async)', async () => {
    assert.equal((await json('PUT', '/v1/functions/v/aliases/prod', { version: 1 })).status, 200);
    const r = await call('v@prod');
    assert.deepEqual([r.text, r.rec?.version, r.rec?.alias], ['one', 1, 'prod']);
    const sub = await fetch(`${s.url}/v1/functions/${encodeURIComponent('v@prod')}/async`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    assert.equal(sub.status, 202);
    const { id, version, alias } = (await sub.json()) as { id: string; version: number; alias: string };
    assert.deepEqual([version, alias], [1, 'prod']);
    const res = await fetch(`${s.url}/v1/invocations/${id}/result?wait=30`);
    assert.equal(await res.text(), 'one');
    const listed = (await (await json('GET', '/v1/functions/v/invocations?limit=5')).json()) as {
      invocations: InvocationRecord[];
    };
    assert.deepEqual(
      [listed.invocations[0]?.version, listed.invocations[0]?.alias],
      [1, 'prod'],
      'the listing (agni logs) names the alias',
    );
  });

  test('a 50/50 split runs both versions over 40 calls, each record naming the version it ran', async () => {
    const set = await json('PUT', '/v1/functions/v/aliases/canary', {
      version: 1,
      split: { version: 2, weight: 0.5 },
    });
    assert.equal(set.status, 200);
    const seen = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const r = await call('v@canary');
      assert.equal(r.rec?.alias, 'canary');
      assert.equal(r.text, r.rec?.version === 1 ? 'one' : 'two', 'the record names the version that ran');
      assert.deepEqual(r.ran, [String(r.rec?.version), 'canary'], 'so do the answer headers');
      seen.set(r.text, (seen.get(r.text) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ['one', 'two'], JSON.stringify([...seen]));
  });

  test('pipe stages name versions and aliases', async () => {
    await deployFiles(s.url, { 'agni.yaml': 'name: upper\nruntime: host\ncommand: ["tr", "a-z", "A-Z"]\n' });
    const r = await fetch(`${s.url}/v1/pipe?f=${encodeURIComponent('v@prod')}&f=upper`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    assert.equal(await r.text(), 'ONE');
    const ids = r.headers.get('agni-invocation-ids')!.split(',');
    const first = (await (await fetch(`${s.url}/v1/invocations/${ids[0]}`)).json()) as InvocationRecord;
    assert.deepEqual([first.version, first.alias], [1, 'prod']);
    const bad = await fetch(`${s.url}/v1/pipe?f=upper&f=${encodeURIComponent('v@9')}`, { method: 'POST' });
    assert.equal(bad.status, 404);
    assert.match((await bad.json()).error.message, /v has no version 9 \(stage 2 of the pipe\)/);
  });

  test('a job created before a deploy runs every item on the version live at its creation', async () => {
    await deployFiles(s.url, { 'agni.yaml': yaml('j', 'old') });
    const created = await json('POST', '/v1/jobs', { function: 'j', concurrency: 1 });
    assert.equal(created.status, 201);
    const job = (await created.json()) as Job;
    assert.deepEqual([job.function, job.version], ['j', 1], 'the live version is pinned at creation');
    const add = await fetch(`${s.url}/v1/jobs/${job.id}/inputs`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'agni-input-split': 'lines' },
      body: 'a\nb\nc\nd\n',
    });
    assert.equal(add.status, 201);
    await deployFiles(s.url, { 'agni.yaml': yaml('j', 'new') });
    assert.equal((await call('j')).text, 'new');
    assert.equal((await json('POST', `/v1/jobs/${job.id}/start`)).status, 200);
    let end: Job = job;
    for (let i = 0; i < 600 && end.status !== 'succeeded' && end.status !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      end = (await (await json('GET', `/v1/jobs/${job.id}`)).json()) as Job;
    }
    assert.equal(end.status, 'succeeded', JSON.stringify(end));
    for (let k = 0; k < 4; k++) {
      const out = await fetch(`${s.url}/v1/jobs/${job.id}/items/${k}/output`);
      assert.equal(await out.text(), 'old', `item ${k}`);
    }
    // Naming an alias keeps the alias: each item resolves it when it starts.
    await json('PUT', '/v1/functions/j/aliases/prod', { version: 2 });
    const viaAlias = (await (await json('POST', '/v1/jobs', { function: 'j@prod' })).json()) as Job;
    assert.deepEqual([viaAlias.function, viaAlias.version], ['j@prod', null]);
    // A version an unfinished job runs is kept; the job's end (or removal) frees it.
    const pinnedJob = (await (await json('POST', '/v1/jobs', { function: 'j@1' })).json()) as Job;
    const held = await json('DELETE', '/v1/functions/j/versions/1');
    assert.equal(held.status, 409);
    assert.match((await held.json()).error.message, new RegExp(`unfinished job ${pinnedJob.id}`));
    await json('DELETE', `/v1/jobs/${pinnedJob.id}`);
    await json('DELETE', `/v1/jobs/${job.id}`);
    assert.equal((await json('DELETE', '/v1/functions/j/versions/1')).status, 200);
    const unknown = await json('POST', '/v1/jobs', { function: 'j@nope' });
    assert.equal(unknown.status, 404);
    assert.match((await unknown.json()).error.message, /field `function`: j has no alias nope/);
  });

  test('rollback moves the live version back without a new version, and triggers follow it', async () => {
    await deployFiles(s.url, {
      'agni.yaml': yaml('r', 'one', 'triggers:\n  - webhook: /r-live\n'),
    });
    await deployFiles(s.url, { 'agni.yaml': yaml('r', 'two') });
    const hook = () => fetch(`${s.url}/hooks/r-live`, { method: 'POST', body: 'x' });
    assert.equal((await hook()).status, 404, 'version 2 has no trigger');
    const rb = await json('POST', '/v1/functions/r/rollback', {});
    assert.deepEqual(await rb.json(), { function: 'r', from: 2, to: 1 });
    assert.equal((await call('r')).text, 'one');
    const f = (await (await json('GET', '/v1/functions/r')).json()) as {
      version: number;
      newest: number;
      versions: number;
    };
    assert.deepEqual([f.version, f.newest, f.versions], [1, 2, 2]);
    const h = await hook();
    assert.equal(h.status, 200, 'the trigger of the live version is served again');
    assert.equal(await h.text(), 'one');
    const again = await json('POST', '/v1/functions/r/rollback', {});
    assert.equal(again.status, 409, 'nothing older than version 1');
    assert.equal((await json('POST', '/v1/functions/r/rollback', { to: 5 })).status, 404);
    assert.deepEqual(await (await json('POST', '/v1/functions/r/rollback', { to: 2 })).json(), {
      function: 'r',
      from: 1,
      to: 2,
    });
    assert.equal((await hook()).status, 404);
    await deployFiles(s.url, { 'agni.yaml': yaml('r', 'three') });
    assert.deepEqual(
      await call('r').then((c) => [c.text, c.rec?.version]),
      ['three', 3],
      'the next deploy is live',
    );
  });

  test('a trigger pinned to an alias runs what the alias points to', async () => {
    const t = 'triggers:\n  - webhook: /pinned\n    alias: prod\n';
    await deployFiles(s.url, { 'agni.yaml': yaml('p', 'one', t) });
    await deployFiles(s.url, { 'agni.yaml': yaml('p', 'two', t) });
    const hook = () => fetch(`${s.url}/hooks/pinned`, { method: 'POST', body: 'x' });
    const none = await hook();
    assert.equal(none.status, 404);
    assert.equal((await none.json()).error.code, 'alias_not_found');
    await json('PUT', '/v1/functions/p/aliases/prod', { version: 1 });
    const h = await hook();
    assert.equal(await h.text(), 'one', 'not the live version 2');
    const rec = (await (
      await fetch(`${s.url}/v1/invocations/${h.headers.get('agni-invocation-id')}`)
    ).json()) as InvocationRecord;
    assert.deepEqual([rec.version, rec.alias], [1, 'prod']);
    await json('PUT', '/v1/functions/p/aliases/prod', { version: 2 });
    assert.equal(await (await hook()).text(), 'two');
    const bad = await upload(
      yaml('p', 'x', 'triggers:\n  - webhook: /pinned\n    alias: prod\n    version: 1\n'),
    );
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /triggers\.0.*at most one of version and alias/);
    const missing = await upload(yaml('p', 'x', 'triggers:\n  - webhook: /pinned\n    version: 9\n'));
    assert.equal(missing.status, 400);
    assert.match((await missing.json()).error.message, /field `triggers.0.version`: p has no version 9/);
  });

  test('a version an alias names, or the live one, is not removed; rm of the function drops its aliases', async () => {
    await deployFiles(s.url, { 'agni.yaml': yaml('d', 'one') });
    await deployFiles(s.url, { 'agni.yaml': yaml('d', 'two') });
    await json('PUT', '/v1/functions/d/aliases/prod', { version: 1 });
    const named = await json('DELETE', '/v1/functions/d/versions/1');
    assert.equal(named.status, 409);
    assert.match((await named.json()).error.message, /named by alias prod/);
    assert.equal((await json('DELETE', '/v1/functions/d/versions/2')).status, 409, 'live');
    assert.equal((await json('DELETE', '/v1/functions/d/aliases/prod')).status, 200);
    assert.equal((await json('DELETE', '/v1/functions/d/aliases/prod')).status, 404);
    assert.equal((await json('DELETE', '/v1/functions/d/versions/1')).status, 200);
    assert.equal((await call('d@1')).status, 404);
    await json('PUT', '/v1/functions/d/aliases/prod', { version: 2 });
    assert.equal((await json('DELETE', '/v1/functions/d')).status, 200);
    await deployFiles(s.url, { 'agni.yaml': yaml('d', 'again') });
    assert.deepEqual(await (await json('GET', '/v1/functions/d/aliases')).json(), { aliases: [] });
    assert.equal((await call('d@prod')).status, 404);
  });

  test('the CLI: invoke @N and @ALIAS, alias set/ls/rm, rollback, logs and inspect name the alias', async () => {
    await deployFiles(s.url, { 'agni.yaml': yaml('c', 'one') });
    await deployFiles(s.url, { 'agni.yaml': yaml('c', 'two') });
    assert.equal((await cli('invoke', 'c@1', '--data', 'x')).stdout, 'one');
    assert.equal((await cli('invoke', 'c@2', '--data', 'x')).stdout, 'two');
    assert.match((await cli('alias', 'set', 'c', 'prod', '1')).stdout, /c@prod -> 1/);
    assert.match(
      (await cli('alias', 'set', 'c', 'canary', '1', '--split', '2=50%')).stdout,
      /c@canary -> 1 \(50%\), 2=50%/,
    );
    const ls = JSON.parse((await cli('alias', 'ls', 'c', '--json')).stdout) as {
      name: string;
      version: number;
    }[];
    assert.deepEqual(
      ls.map((a) => [a.name, a.version]),
      [
        ['canary', 1],
        ['prod', 1],
      ],
    );
    assert.equal((await cli('invoke', 'c@prod', '--data', 'x')).stdout, 'one');
    const logs = (await cli('logs', 'c', '-n', '1')).stdout;
    assert.match(logs, /ALIAS/);
    assert.match(logs.split('\n')[1]!, /\bc\s+1\s+prod\s+succeeded/);
    const id = logs.split('\n')[1]!.split(/\s+/)[0]!;
    assert.match((await cli('inspect', id)).stdout, /function {4}c v1 \(alias prod\)/);
    assert.match((await cli('rollback', 'c')).stdout, /c: version 1 is live \(was 2\)/);
    assert.equal((await cli('invoke', 'c', '--data', 'x')).stdout, 'one');
    assert.match((await cli('ls')).stdout, /\bc\s+1 \(newest 2\)/);
    assert.match((await cli('versions', 'c')).stdout, /1 \(live\)/);
    assert.match((await cli('rollback', 'c', '--to', '2')).stdout, /version 2 is live \(was 1\)/);
    const bad = await cli('alias', 'set', 'c', 'prod', '1', '--split', '2=150%');
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /--split "2=150%": expected a share strictly between 0 and 1/);
    const gone = await cli('invoke', 'c@9', '--data', 'x');
    assert.equal(gone.code, 66);
    assert.match(gone.stderr, /c has no version 9/);
    const inUse = await cli('rm', 'c@1');
    assert.equal(inUse.code, 65);
    assert.match(inUse.stderr, /named by aliases canary, prod/);
    assert.equal((await cli('alias', 'rm', 'c', 'prod')).code, 0);
    assert.equal((await cli('alias', 'rm', 'c', 'canary')).code, 0);
    assert.match((await cli('rm', 'c@1')).stdout, /removed version 1 of c/);
    assert.equal((await cli('pipe', 'c@2', 'upper', '--data', 'x')).stdout, 'TWO');
    const mapped = await runCli(s.url, ['map', 'c@2', '--json'], 'a\nb\n');
    assert.equal(mapped.code, 0, mapped.stderr);
    const jobs = (await cli('jobs')).stdout;
    assert.match(jobs, /\bc@2\b/);
    const bare = await runCli(s.url, ['map', 'c'], 'a\n');
    assert.equal(bare.stdout, 'two');
    assert.match(
      (await cli('jobs')).stdout.split('\n')[1]!,
      /\bc@2\b/,
      'a bare name shows the version it pinned',
    );
  });
});
