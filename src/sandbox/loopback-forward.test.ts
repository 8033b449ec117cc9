import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listensOn, netnsPrefix } from './loopback-forward.js';

const TABLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2329 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:2329 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
`;

test('listensOn finds a LISTEN socket on 127.0.0.1:port only', () => {
  assert.equal(listensOn(TABLE, 9001), true);
  assert.equal(listensOn(TABLE, 9002), false);
  assert.equal(
    listensOn(TABLE.replace(' 0A ', ' 01 '), 9001),
    false,
    'an established connection is not a listener',
  );
  assert.equal(listensOn('', 9001), false);
});

test('namespace names are tagged by home, so one instance never removes another’s', () => {
  assert.match(netnsPrefix('/var/lib/agni'), /^agni-[0-9a-f]{8}-$/);
  assert.notEqual(netnsPrefix('/a'), netnsPrefix('/b'));
});
