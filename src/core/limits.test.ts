import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lowDiskError, minFreeBytes, parseMinFree, UnpackBudget } from './limits.js';

test('--min-free: a size, a percentage or 0; anything else says what is expected', () => {
  assert.deepEqual(parseMinFree('1Gi'), { bytes: 1024 ** 3 });
  assert.deepEqual(parseMinFree('5%'), { percent: 5 });
  assert.deepEqual(parseMinFree('0'), { bytes: 0 });
  assert.match(String(parseMinFree('100%')), /below 100%/);
  assert.match(String(parseMinFree('lots')), /a size such as 1Gi/);
  assert.equal(minFreeBytes({ percent: 10 }, 1000), 100);
  assert.equal(minFreeBytes({ bytes: 7 }, 1000), 7);
  const e = lowDiskError('a deploy', 512 * 1024 ** 2, { percent: 5 }, 1024 ** 3);
  assert.equal(e.status, 507);
  assert.match(
    e.message,
    /^a deploy refused: the server's disk has 512 MiB free, below the 5% \(1\.0 GiB\) it keeps free \(agni up --min-free\)$/,
  );
});

test('UnpackBudget: the entry that passes a limit is refused, naming the limit and the flag', () => {
  const b = new UnpackBudget({ maxBytes: 100, maxFiles: 3 }, 'the upload');
  assert.equal(b.charge(60), undefined);
  assert.equal(b.charge(40), undefined);
  const over = b.charge(1);
  assert.equal(over?.code, 'payload_too_large');
  assert.match(
    over?.message ?? '',
    /^the upload unpacks to more than 100 B, the server's limit \(agni up --max-unpack\)$/,
  );
  const files = new UnpackBudget({ maxBytes: 100, maxFiles: 2 }, 'layer');
  files.charge(0);
  files.charge(0);
  assert.match(files.charge(0)?.message ?? '', /more than 2 files.*--max-files/);
});
