import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from './errors.js';
import { parseManifest, withLambdaBootstrap } from './manifest.js';

function fails(text: string, re: RegExp): void {
  assert.throws(
    () => parseManifest(text, 'fn/agni.yaml'),
    (e: unknown) => e instanceof AgniError && e.code === 'manifest_invalid' && re.test(e.message),
  );
}

test('defaults are filled in', () => {
  const m = parseManifest('name: a\nruntime: host\ncommand: echo hi\n');
  assert.deepEqual(m.command, ['/bin/sh', '-c', 'echo hi']);
  assert.equal(m.limits.memoryBytes, 256 * 1024 * 1024);
  assert.equal(m.limits.timeoutMs, 30_000);
  assert.equal(m.network, 'none');
  assert.equal(m.lifecycle, 'cold');
  assert.deepEqual(m.pool, { min: 0, max: 2, idleMs: 60_000 });
});

test('units and lists are parsed', () => {
  const m = parseManifest(
    'name: a\nruntime: img\ncommand: [python3, main.py]\nenv: {N: 3}\nlimits: {memory: 1Gi, cpus: 0.5, pids: 10, timeout: 500ms}\nlifecycle: warm\npool: {min: 1, max: 4, idle: 5m}\n',
  );
  assert.equal(m.limits.memoryBytes, 1024 ** 3);
  assert.equal(m.limits.timeoutMs, 500);
  assert.equal(m.env.N, '3');
  assert.equal(m.lifecycle, 'warm');
  assert.deepEqual(m.pool, { min: 1, max: 4, idleMs: 300_000 });
});

test('errors name the file, the field and what was expected', () => {
  fails('name: Bad\nruntime: host\ncommand: x\n', /fn\/agni\.yaml: field `name`: expected lowercase/);
  fails('runtime: host\ncommand: x\n', /field `name`: expected a value \(it is required\)/);
  fails(
    'name: a\nruntime: host\ncommand: x\nlimits: {memory: lots}\n',
    /field `limits\.memory`: expected a size/,
  );
  fails(
    'name: a\nruntime: host\ncommand: x\nlimits: {timeout: forever}\n',
    /field `limits\.timeout`: expected a duration/,
  );
  fails('name: a\nruntime: host\ncommand: x\nnetwrk: none\n', /field `netwrk`: expected no such field/);
  fails('name: a\nruntime: host\ncommand: x\nenv: {AGNI_X: 1}\n', /field `env\.AGNI_X`/);
  fails(
    'name: a\nruntime: host\ncommand: x\npool: {min: 3, max: 1}\n',
    /field `pool\.min`: expected at most pool\.max/,
  );
  fails('name: a\nruntime: host\ncommand: x\nlifecycle: hot\n', /field `lifecycle`/);
  fails('name: [a\n', /not valid YAML/);
  fails('- a\n- b\n', /field `\(document\)`/);
});

test('retries and backoff: defaults, units and errors', () => {
  const d = parseManifest('name: a\nruntime: host\ncommand: x\n');
  assert.equal(d.retries, 0);
  assert.deepEqual(d.backoff, { initialMs: 1000, maxMs: 300_000, factor: 2 });
  const m = parseManifest(
    'name: a\nruntime: host\ncommand: x\nretries: 3\nbackoff: {initial: 200ms, max: 2s, factor: 3}\n',
  );
  assert.equal(m.retries, 3);
  assert.deepEqual(m.backoff, { initialMs: 200, maxMs: 2000, factor: 3 });
  fails('name: a\nruntime: host\ncommand: x\nretries: -1\n', /field `retries`/);
  fails('name: a\nruntime: host\ncommand: x\nbackoff: {initial: soon}\n', /field `backoff\.initial`/);
  fails(
    'name: a\nruntime: host\ncommand: x\nbackoff: {initial: 10s, max: 1s}\n',
    /field `backoff\.max`: expected at least backoff\.initial/,
  );
});

test('triggers: cron, subject and webhook are normalized with their defaults', () => {
  const base = 'name: ticker\nruntime: host\ncommand: x\n';
  assert.deepEqual(parseManifest(base).triggers, []);
  const m = parseManifest(
    `${base}triggers:
  - cron: "*/5 * * * *"
    timezone: Europe/Paris
    payload: hello
  - cron: "*/2 * * * * *"
    payload: {n: 1}
  - subject: orders.*
    reply: shipping.done
  - subject: jobs.>
    queue: workers
  - webhook: /github/push
    secret: s3cret-enough
  - webhook: /plain
`,
  );
  assert.deepEqual(m.triggers, [
    { kind: 'cron', cron: '*/5 * * * *', timezone: 'Europe/Paris', payload: 'hello' },
    { kind: 'cron', cron: '*/2 * * * * *', timezone: 'UTC', payload: '{"n":1}' },
    { kind: 'subject', subject: 'orders.*', queue: 'agni.ticker', reply: 'shipping.done' },
    { kind: 'subject', subject: 'jobs.>', queue: 'workers' },
    { kind: 'webhook', webhook: '/github/push', secret: 's3cret-enough' },
    { kind: 'webhook', webhook: '/plain' },
  ]);
});

test('triggers: errors name the item and the field', () => {
  const base = 'name: a\nruntime: host\ncommand: x\ntriggers:\n';
  fails(
    `${base}  - cron: "0 * * * *"\n  - cron: "0 * * * *"\n    timezone: Mars/Olympus\n`,
    /field `triggers\.1\.timezone`: expected an IANA time zone/,
  );
  fails(
    `${base}  - cron: "0 * * * *"\n    timezone: "+01:00"\n`,
    /field `triggers\.0\.timezone`: expected an IANA time zone/,
  );
  fails(
    `${base}  - cron: "61 * * * *"\n`,
    /field `triggers\.0\.cron`: expected a cron expression of 5 fields.*\(got "61 \* \* \* \*"\)/,
  );
  fails(`${base}  - cron: "* * *"\n`, /field `triggers\.0\.cron`: expected a cron expression/);
  fails(`${base}  - cron: "0 0 30 2 *"\n`, /field `triggers\.0\.cron`: .*never fires/);
  fails(
    `${base}  - cron: "0 * * * *"\n    secret: x\n`,
    /field `triggers\.0\.secret`: expected no such field; a cron trigger has cron, timezone, payload/,
  );
  fails(`${base}  - payload: x\n`, /field `triggers\.0`: expected one of cron, subject or webhook/);
  fails(
    `${base}  - cron: "0 * * * *"\n    webhook: /x\n`,
    /field `triggers\.0`: expected exactly one of cron, subject or webhook, not both cron and webhook/,
  );
  fails(`${base}  - subject: "a..b"\n`, /field `triggers\.0\.subject`: expected a NATS subject/);
  fails(`${base}  - subject: "a.>.b"\n`, /field `triggers\.0\.subject`/);
  fails(
    `${base}  - subject: a.b\n    reply: "c.*"\n`,
    /field `triggers\.0\.reply`: expected a NATS subject without wildcards/,
  );
  fails(`${base}  - subject: "a.*"\n    reply: a.done\n`, /field `triggers\.0\.reply`: .*re-trigger itself/);
  fails(`${base}  - subject: a.b\n    queue: "two words"\n`, /field `triggers\.0\.queue`/);
  fails(
    `${base}  - webhook: github\n`,
    /field `triggers\.0\.webhook`: expected a path such as \/github\/push/,
  );
  fails(`${base}  - webhook: /a/../b\n`, /field `triggers\.0\.webhook`/);
  fails(
    `${base}  - webhook: /a\n  - webhook: /a\n`,
    /field `triggers\.1\.webhook`: expected a path not already used by triggers\.0/,
  );
  fails(
    'name: a\nruntime: host\ncommand: x\ntriggers: {cron: "* * * * *"}\n',
    /field `triggers`: expected a list/,
  );
  fails('name: a\nruntime: host\ncommand: x\ntrigers: []\n', /known fields are .*triggers/);
});

test('triggers: a short or wrong-typed secret is refused without echoing it', () => {
  assert.throws(
    () => parseManifest('name: a\nruntime: host\ncommand: x\ntriggers:\n  - webhook: /h\n    secret: tiny\n'),
    (e: unknown) =>
      e instanceof AgniError &&
      /field `triggers\.0\.secret`: expected a string of at least 8 characters$/.test(e.message) &&
      !e.message.includes('tiny'),
  );
});

test('image overrides: entrypoint, workdir, user; command optional', () => {
  const m = parseManifest('name: a\nruntime: img\nentrypoint: [python3]\nworkdir: /app\nuser: "1000:1000"\n');
  assert.deepEqual(m.command, []);
  assert.deepEqual(m.entrypoint, ['python3']);
  assert.equal(m.workdir, '/app');
  assert.equal(m.user, '1000:1000');
  assert.deepEqual(parseManifest('name: a\nruntime: img\nentrypoint: run me\n').entrypoint, [
    '/bin/sh',
    '-c',
    'run me',
  ]);
  assert.equal(parseManifest('name: a\nruntime: img\nuser: 42\n').user, '42');
  assert.equal(parseManifest('name: a\nruntime: img\nuser: app:staff\n').user, 'app:staff');
  const plain = parseManifest('name: a\nruntime: host\ncommand: x\n');
  assert.equal('entrypoint' in plain || 'workdir' in plain || 'user' in plain, false);
  fails('name: a\nruntime: img\nworkdir: app\n', /field `workdir`: expected an absolute path/);
  fails('name: a\nruntime: img\nuser: "a:b:c"\n', /field `user`: expected uid\[:gid\] or name\[:group\]/);
  fails('name: a\nruntime: img\nentrypoint: []\n', /field `entrypoint`/);
  fails(
    'name: a\nruntime: img\ncomand: x\n',
    /known fields are name, runtime, command, entrypoint, workdir, user,/,
  );
});

test('env values with NUL are refused naming the key', () => {
  fails(
    'name: a\nruntime: host\ncommand: x\nenv: {OK: "x", BAD: "a\\0b"}\n',
    /field `env\.BAD`: expected a value without NUL/,
  );
  fails('name: a\nruntime: host\ncommand: ["/bin/echo", "a\\0b"]\n', /field `command`: expected no NUL/);
  fails('name: a\nruntime: host\ncommand: x\nworkdir: "/fn\\0x"\n', /field `workdir`: expected no NUL/);
});

test('user: ids from 0 to 2^31-1, names that are not options', () => {
  for (const bad of [
    '"-1"',
    '-1',
    '4294967295',
    '"4294967295"',
    '"2147483648"',
    '"1000:4294967295"',
    '"-x"',
    '"app:-g"',
  ])
    fails(`name: a\nruntime: img\ncommand: x\nuser: ${bad}\n`, /field `user`: expected .*2147483647/);
  for (const ok of [
    '0',
    '2147483647',
    '"2147483647:2147483647"',
    'app',
    '"www-data:www-data"',
    '"1000:staff"',
  ])
    assert.ok(parseManifest(`name: a\nruntime: img\ncommand: x\nuser: ${ok}\n`).user);
});

test('every duration must fit a timer (2^31-1 ms), naming the field and the maximum', () => {
  for (const [field, yaml] of [
    ['limits.timeout', 'limits: {timeout: 597h}'],
    ['limits.timeout', 'limits: {timeout: 2147484}'], // seconds
    ['pool.idle', 'pool: {idle: 2147483648ms}'],
    ['backoff.initial', 'backoff: {initial: 1000h, max: 1000h}'],
    ['backoff.max', 'backoff: {max: 9999h}'],
  ])
    fails(
      `name: a\nruntime: host\ncommand: x\n${yaml}\n`,
      new RegExp(`field \`${field}\`: expected at most 2147483647 ms`),
    );
  const m = parseManifest(
    'name: a\nruntime: host\ncommand: x\nlimits: {timeout: 2147483647ms}\npool: {idle: 596h}\n',
  );
  assert.equal(m.limits.timeoutMs, 2_147_483_647);
  assert.equal(m.pool.idleMs, 596 * 3_600_000);
});

test('protocol: lambda is a warm worker with a handler; host network, cold and reserved env refused', () => {
  const m = parseManifest('name: a\nruntime: host\nprotocol: lambda\nhandler: function.handler\n');
  assert.equal(m.protocol, 'lambda');
  assert.equal(m.lifecycle, 'warm');
  assert.equal(m.handler, 'function.handler');
  assert.deepEqual(m.command, [], 'the bootstrap default is set at deploy, once the image is known');
  assert.equal(parseManifest('name: a\nruntime: host\ncommand: x\n').protocol, undefined);
  fails('name: a\nruntime: host\nprotocol: lambda\nnetwork: host\n', /field `network`: expected none/);
  fails('name: a\nruntime: host\nprotocol: lambda\nlifecycle: cold\n', /field `lifecycle`: expected warm/);
  fails('name: a\nruntime: host\nprotocol: lambda\nenv: {AWS_REGION: x}\n', /field `env.AWS_REGION`/);
  fails('name: a\nruntime: host\nprotocol: lambda\nenv: {_HANDLER: x}\n', /field `env._HANDLER`/);
  fails('name: a\nruntime: host\ncommand: x\nhandler: f.h\n', /field `handler`: expected no handler/);
  fails('name: a\nruntime: host\nprotocol: grpc\n', /field `protocol`/);
  // Outside protocol: lambda, AWS_* are the user's own (e.g. credentials for an SDK).
  assert.equal(
    parseManifest('name: a\nruntime: host\ncommand: x\nenv: {AWS_REGION: x}\n').env.AWS_REGION,
    'x',
  );
});

test('a Lambda function without a command runs /fn/bootstrap unless its image says what to run', () => {
  const m = parseManifest('name: a\nruntime: host\nprotocol: lambda\n');
  assert.deepEqual(withLambdaBootstrap(m, false).command, ['/fn/bootstrap']);
  assert.deepEqual(withLambdaBootstrap(m, true).command, []);
  const own = parseManifest(
    'name: a\nruntime: host\nprotocol: lambda\ncommand: [/bin/bash, /fn/bootstrap]\n',
  );
  assert.deepEqual(withLambdaBootstrap(own, false).command, ['/bin/bash', '/fn/bootstrap']);
  const cold = parseManifest('name: a\nruntime: host\ncommand: x\n');
  assert.equal(withLambdaBootstrap(cold, false), cold);
});

test('an unknown field in a mapping lists that mapping’s fields, not the top level’s', () => {
  const base = 'name: a\nruntime: host\ncommand: x\n';
  fails(
    `${base}limits: {memry: 1Gi}\n`,
    /field `limits\.memry`: expected no such field; the fields of `limits` are memory, cpus, pids, timeout$/,
  );
  fails(`${base}pool: {maxx: 3}\n`, /field `pool\.maxx`: .*the fields of `pool` are min, max, idle$/);
  fails(
    `${base}backoff: {start: 1s}\n`,
    /field `backoff\.start`: .*the fields of `backoff` are initial, max, factor$/,
  );
  fails(
    `${base}triggers: [{cron: "* * * * *", tz: UTC}]\n`,
    /`triggers\.0\.tz`: .*a cron trigger has cron, timezone, payload, version, alias$/,
  );
});

test('placement: platforms and labels, checked field by field', () => {
  const none = parseManifest('name: a\nruntime: host\ncommand: x\n');
  assert.equal(none.placement, undefined);
  const m = parseManifest(
    'name: a\nruntime: host\ncommand: x\nplacement:\n  platforms: [linux/arm64, linux/arm/v7]\n  labels: {site: lab-2, gpu: "yes"}\n',
  );
  assert.deepEqual(m.placement, {
    platforms: ['linux/arm64', 'linux/arm/v7'],
    labels: { site: 'lab-2', gpu: 'yes' },
  });
  fails(
    'name: a\nruntime: host\ncommand: x\nplacement: {platforms: [arm64]}\n',
    /field `placement\.platforms\.0`: expected os\/arch\[\/variant\], e\.g\. linux\/arm64 \(got "arm64"\)/,
  );
  fails(
    'name: a\nruntime: host\ncommand: x\nplacement: {platforms: []}\n',
    /field `placement\.platforms`: expected at least one/,
  );
  fails(
    'name: a\nruntime: host\ncommand: x\nplacement: {labels: {site: "a,b"}}\n',
    /field `placement\.labels\.site`: expected a label value/,
  );
  fails(
    'name: a\nruntime: host\ncommand: x\nplacement: {nodes: [a]}\n',
    /field `placement\.nodes`: expected no such field; the fields of `placement` are platforms, labels/,
  );
  fails('name: a\nruntime: host\ncommand: x\nplacement: linux/arm64\n', /field `placement`: expected/);
});

test('network: egress takes an allow list; allow without egress and bad entries are refused by field', () => {
  const m = parseManifest(
    'name: a\nruntime: host\ncommand: x\nnetwork: egress\nallow: [10.0.0.5:5432, 192.168.0.0/16, db.lab:5432]\n',
  );
  assert.equal(m.network, 'egress');
  assert.deepEqual(
    m.allow?.map((a) => [a.host, a.prefix, a.port]),
    [
      ['10.0.0.5', 32, 5432],
      ['192.168.0.0', 16, undefined],
      ['db.lab', undefined, 5432],
    ],
  );
  assert.deepEqual(parseManifest('name: a\nruntime: host\ncommand: x\nnetwork: egress\n').allow, []);
  assert.equal(parseManifest('name: a\nruntime: host\ncommand: x\n').allow, undefined);
  fails(
    'name: a\nruntime: host\ncommand: x\nallow: [10.0.0.5]\n',
    /field `allow`: expected no `allow` unless `network: egress`/,
  );
  fails('name: a\nruntime: host\ncommand: x\nnetwork: host\nallow: [10.0.0.5]\n', /field `allow`/);
  fails(
    'name: a\nruntime: host\ncommand: x\nnetwork: egress\nallow: [10.0.0.5, "10.0.0.5:99999"]\n',
    /field `allow\[1\]`: expected a port from 1 to 65535/,
  );
  fails(
    'name: a\nruntime: host\ncommand: x\nnetwork: egress\nallow: [169.254.169.254:80]\n',
    /field `allow\[0\]`: .*link-local/,
  );
  fails(
    'name: a\nruntime: host\ncommand: x\nnetwork: egress\nallow: 10.0.0.5\n',
    /field `allow`: expected a list/,
  );
  fails('name: a\nruntime: host\ncommand: x\nnetwork: bridge\n', /field `network`/);
  fails('name: a\nruntime: host\nprotocol: lambda\nnetwork: egress\n', /field `network`: expected none/);
});
