/** Membership over the real NATS (127.0.0.1:4222): publisher, directory, lost and forgotten nodes. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { publishHeartbeats } from './heartbeat-publisher.js';
import { NodeDirectory } from './node-directory.js';
import type { NodeHeartbeat } from './node-heartbeat.js';

let nc: NatsConnection;
before(async () => {
  nc = await connect({ servers: '127.0.0.1:4222' });
});
after(() => nc.close());

/** a logger whose lines the test can read */
function captured(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out.push(String(chunk));
      cb();
    },
  });
  return {
    logger: pino({ level: 'debug' }, sink),
    lines: () =>
      out.flatMap((l) =>
        l
          .split('\n')
          .filter(Boolean)
          .map((x) => JSON.parse(x)),
      ),
  };
}

const hb = (node: string, over: Partial<NodeHeartbeat> = {}): NodeHeartbeat => ({
  node,
  address: '10.0.0.1',
  platforms: ['linux/amd64'],
  backends: ['process'],
  slots: 4,
  running: 0,
  queued: 0,
  memoryBytes: 1 << 30,
  labels: {},
  warm: [],
  state: 'ready',
  startedAt: 1000,
  sentAt: Date.now(),
  ...over,
});

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('heartbeats published on NATS reach the directory; bad ones are logged and ignored', async () => {
  // A subject of its own, so other tests' agents on the shared server do not show up here.
  const subject = `test.hb.${randomUUID()}`;
  const { logger, lines } = captured();
  const dir = await NodeDirectory.subscribe(nc, { logger, subject });
  let running = 0;
  const pub = publishHeartbeats(nc, () => hb('n1', { running }), { logger, subject, intervalMs: 50 });
  try {
    await until('n1 in the directory', () => dir.get('n1') !== undefined);
    assert.equal(dir.get('n1')!.state, 'ready');
    running = 3;
    await until('a fresh heartbeat', () => dir.get('n1')!.heartbeat.running === 3);
    nc.publish(subject, 'not json');
    nc.publish(subject, JSON.stringify({ ...hb('bad'), slots: -1 }));
    nc.publish(subject, JSON.stringify({ ...hb('dotted.name') }));
    await nc.flush();
    await until(
      'the complaints',
      () => lines().filter((l) => l.msg === 'ignored a heartbeat that is not valid').length === 3,
    );
    const reasons = lines()
      .filter((l) => l.msg === 'ignored a heartbeat that is not valid')
      .map((l) => l.reason);
    assert.ok(reasons.includes('not JSON'), String(reasons));
    assert.ok(
      reasons.some((r) => /^slots: /.test(String(r))),
      String(reasons),
    );
    assert.ok(
      reasons.some((r) => /^node: /.test(String(r))),
      String(reasons),
    );
    assert.deepEqual(
      dir.list().map((e) => e.heartbeat.node),
      ['n1'],
    );
  } finally {
    pub.stop();
    dir.close();
  }
});

test('a silent node is lost after 3 s, its listeners called; it comes back, then is forgotten', async () => {
  let now = 0;
  const { logger } = captured();
  const dir = new NodeDirectory({ logger, now: () => now, forgetAfterMs: 60_000 });
  try {
    dir.update(hb('a'));
    let lost = 0;
    const off = dir.onLost('a', () => lost++);
    now = 2999;
    dir.sweep();
    assert.equal(dir.get('a')!.state, 'ready');
    now = 3000;
    dir.sweep();
    assert.equal(dir.get('a')!.state, 'lost');
    assert.equal(lost, 1);
    dir.sweep();
    assert.equal(lost, 1, 'called once per loss');
    dir.update(hb('a', { sentAt: Date.now() + 1 }));
    assert.equal(dir.get('a')!.state, 'ready');
    off();
    now = 7000;
    dir.sweep();
    assert.equal(lost, 1, 'an unsubscribed listener is not called');
    now = 63_000;
    dir.sweep();
    assert.equal(dir.get('a'), undefined);
  } finally {
    dir.close();
  }
});

test('a restarted node (new startedAt) fires lost; a late heartbeat of the old run is ignored', async () => {
  const { logger } = captured();
  const dir = new NodeDirectory({ logger });
  try {
    dir.update(hb('a', { startedAt: 1, running: 2 }));
    let lost = 0;
    dir.onLost('a', () => lost++);
    dir.update(hb('a', { startedAt: 2, running: 0 }));
    assert.equal(lost, 1);
    dir.update(hb('a', { startedAt: 1, running: 2 }));
    assert.equal(dir.get('a')!.heartbeat.startedAt, 2);
    assert.equal(dir.get('a')!.heartbeat.running, 0);
  } finally {
    dir.close();
  }
});

test('onLost of a node already lost or unknown calls back at once', async () => {
  const { logger } = captured();
  const dir = new NodeDirectory({ logger });
  try {
    const called = await new Promise<boolean>((resolve) => {
      dir.onLost('nobody', () => resolve(true));
      setTimeout(() => resolve(false), 2000);
    });
    assert.equal(called, true);
  } finally {
    dir.close();
  }
});

test('a draining heartbeat makes the node draining, and silence still makes it lost on the real clock', async () => {
  const subject = `test.hb.${randomUUID()}`;
  const { logger } = captured();
  const dir = await NodeDirectory.subscribe(nc, { logger, subject, lostAfterMs: 600 });
  const pub = publishHeartbeats(nc, () => hb('d', { state: 'draining' }), {
    logger,
    subject,
    intervalMs: 100,
  });
  try {
    await until('d draining', () => dir.get('d')?.state === 'draining');
    const lost = new Promise<void>((resolve) => dir.onLost('d', resolve));
    pub.stop();
    await lost;
    assert.equal(dir.get('d')!.state, 'lost');
  } finally {
    pub.stop();
    dir.close();
  }
});
