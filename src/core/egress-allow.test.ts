import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidrsOverlap, isNeverAddress, networkOf, parseAllowEntry, parseAllowList } from './egress-allow.js';

const ok = (text: string) => {
  const e = parseAllowEntry(text);
  assert.ok(!('problem' in e), `${text}: ${'problem' in e ? e.problem : ''}`);
  return e;
};
const bad = (text: unknown, re: RegExp) => {
  const e = parseAllowEntry(text);
  assert.ok('problem' in e, `${String(text)} should be refused`);
  assert.match(e.problem, re);
};

test('addresses, CIDRs and names, each with an optional port', () => {
  assert.deepEqual(ok('10.0.0.5:5432'), { host: '10.0.0.5', prefix: 32, port: 5432, text: '10.0.0.5:5432' });
  assert.deepEqual(ok('192.168.0.0/16'), { host: '192.168.0.0', prefix: 16, text: '192.168.0.0/16' });
  assert.deepEqual(ok('10.1.0.0/24:443'), {
    host: '10.1.0.0',
    prefix: 24,
    port: 443,
    text: '10.1.0.0/24:443',
  });
  assert.deepEqual(ok('DB.Lab:5432'), { host: 'db.lab', port: 5432, text: 'DB.Lab:5432' });
  assert.deepEqual(ok('pypi.org'), { host: 'pypi.org', text: 'pypi.org' });
  assert.deepEqual(ok('0.0.0.0/0'), { host: '0.0.0.0', prefix: 0, text: '0.0.0.0/0' });
});

test('bad entries say what was expected', () => {
  bad('10.0.0.5:0', /port from 1 to 65535/);
  bad('10.0.0.5:http', /port from 1 to 65535/);
  bad('10.0.0.5/33', /prefix from 0 to 32/);
  bad('10.0.0.5/24', /host bits clear \(10\.0\.0\.0\/24\)/);
  bad('db.lab/24', /IPv4 address before the `\/`/);
  bad('10.0.5', /four parts/);
  bad('::1', /IPv6 is not supported/);
  bad('bad_name!', /host name/);
  bad('', /host:port/);
  bad(42, /host:port/);
});

test('the host, loopback, link-local (metadata) and multicast are never allowed', () => {
  bad('169.254.169.254:80', /link-local/);
  bad('169.254.0.0/16', /link-local/);
  bad('127.0.0.1:5432', /loopback/);
  bad('localhost:5432', /localhost/);
  bad('224.0.0.1', /multicast/);
  bad('255.255.255.255', /broadcast/);
  bad('0.0.0.0', /this network/);
  // a range that merely contains them is fine: the firewall rejects them first
  ok('128.0.0.0/1');
  assert.ok(isNeverAddress('169.254.169.254'));
  assert.ok(isNeverAddress('127.0.0.53'));
  assert.ok(!isNeverAddress('10.0.0.5'));
});

test('a list names its first bad entry', () => {
  assert.deepEqual(parseAllowList(['10.0.0.5', 'x:0']), {
    index: 1,
    problem: 'a port from 1 to 65535 after the `:`',
  });
  assert.match(String((parseAllowList('10.0.0.5') as { problem: string }).problem), /a list/);
  assert.match(
    String((parseAllowList(Array(65).fill('10.0.0.5')) as { problem: string }).problem),
    /at most 64/,
  );
  assert.equal((parseAllowList([]) as unknown[]).length, 0);
});

test('CIDR arithmetic', () => {
  assert.equal(networkOf('10.1.2.3', 16), '10.1.0.0');
  assert.equal(networkOf('10.1.2.3', 0), '0.0.0.0');
  assert.ok(cidrsOverlap('10.0.0.0', 8, '10.89.0.0', 16));
  assert.ok(!cidrsOverlap('10.90.0.0', 16, '10.89.0.0', 16));
});
