import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addressRefusal,
  blockedReason,
  NOTHING_ALLOWED,
  parseAllowList,
  urlRefusal,
} from './address-policy.js';
import { isAgniError } from './errors.js';

const refusedUrl = (url: string, allow = NOTHING_ALLOWED) => urlRefusal(new URL(url), allow);

test('every spelling of loopback in a URL is refused', () => {
  for (const host of [
    '127.0.0.1',
    '127.1',
    '127.0.1',
    '2130706433',
    '0177.0.0.1',
    '0x7f000001',
    '0x7f.0.0.1',
    '017700000001',
    '127.0.0.1.',
    '127.255.255.254',
    '[::1]',
    '[0:0:0:0:0:0:0:1]',
    '[::ffff:127.0.0.1]',
    '[::ffff:7f00:1]',
    '[0:0:0:0:0:ffff:7f00:1]',
    '[::127.0.0.1]',
    '[64:ff9b::127.0.0.1]',
  ]) {
    const why = refusedUrl(`http://${host}:8080/cb`);
    assert.ok(why, `${host} is refused`);
  }
});

test('private, link-local, metadata, CGNAT, unspecified, multicast and broadcast are refused, and why', () => {
  const cases: [string, RegExp][] = [
    ['10.0.0.1', /private/],
    ['10.255.255.255', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['169.254.169.254', /link-local/],
    ['100.64.0.1', /CGNAT/],
    ['100.127.255.255', /CGNAT/],
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['240.0.0.1', /reserved/],
    ['198.18.0.1', /benchmarking/],
    ['::', /unspecified/],
    ['fe80::1', /link-local/],
    ['febf::1', /link-local/],
    ['fc00::1', /unique local/],
    ['fd12:3456::1', /unique local/],
    ['ff02::1', /multicast/],
    ['::ffff:10.0.0.1', /private/],
    ['::ffff:169.254.169.254', /link-local/],
    ['::ffff:8.8.8.8', /IPv4-mapped/],
    ['64:ff9b::a00:1', /NAT64/],
    ['2002:7f00:1::', /6to4/],
    ['2001:0:4136:e378::1', /Teredo/],
  ];
  for (const [ip, reason] of cases) assert.match(blockedReason(ip) ?? 'allowed', reason, ip);
  // Spellings the URL parser turns into these.
  assert.match(refusedUrl('http://0xa9fea9fe/latest/meta-data') ?? '', /169\.254\.169\.254 is a link-local/);
  assert.match(refusedUrl('http://0/') ?? '', /0\.0\.0\.0/);
});

test('public addresses and names pass; names are judged later, by what they resolve to', () => {
  for (const ip of [
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
  ])
    assert.equal(blockedReason(ip), undefined, ip);
  assert.equal(refusedUrl('https://example.com/hook'), undefined);
  assert.equal(refusedUrl('http://localhost:1/'), undefined, 'a name: checked at delivery');
  assert.equal(refusedUrl('http://[2606:4700:4700::1111]/'), undefined);
});

test('the operator allow list opens ranges, single addresses and names, and nothing more', () => {
  const allow = parseAllowList(['127.0.0.1', '10.1.0.0/16', 'fd00::/8', 'Hooks.Internal.', '[::1]']);
  assert.equal(addressRefusal('127.0.0.1', allow), undefined);
  assert.equal(addressRefusal('::ffff:127.0.0.1', allow), undefined, 'the mapped form of an allowed IPv4');
  assert.ok(addressRefusal('127.0.0.2', allow));
  assert.equal(addressRefusal('10.1.200.3', allow), undefined);
  assert.ok(addressRefusal('10.2.0.1', allow));
  assert.equal(addressRefusal('fd00::5', allow), undefined);
  assert.equal(addressRefusal('::1', allow), undefined);
  assert.ok(addressRefusal('169.254.169.254', allow));
  assert.equal(refusedUrl('http://hooks.internal/x', allow), undefined);
  assert.equal(refusedUrl('http://127.1/x', allow), undefined, 'spellings of an allowed address too');
  // An IPv6 rule never opens IPv4 addresses (BlockList would treat them as mapped).
  const v6 = parseAllowList(['::ffff:0:0/96']);
  assert.ok(addressRefusal('10.0.0.1', v6));
});

test('bad allow-list entries name the flag and the entry', () => {
  for (const bad of ['10.0.0.0/33', '10.0.0.0/', 'fd00::/129', 'a b', '10.0.0.0/8/1', 'http://x', '']) {
    assert.throws(
      () => parseAllowList([bad]),
      (e) => isAgniError(e) && e.code === 'bad_request' && e.message.startsWith('--callback-allow'),
      JSON.stringify(bad),
    );
  }
});
