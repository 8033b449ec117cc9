import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseManifest } from '../core/manifest.js';
import { hostRunner } from './sweep-baselines.js';

test('the host baseline runs what the process backend would: /fn and volumes mapped, env, stdin, cwd', async () => {
  const fn = mkdtempSync(join(tmpdir(), 'agni-sweep-fn-'));
  const data = mkdtempSync(join(tmpdir(), 'agni-sweep-data-'));
  try {
    writeFileSync(join(data, 'x.txt'), 'from the volume');
    writeFileSync(
      join(fn, 'run.sh'),
      'read -r p; cat "$DATA"; echo " $p $GREETING $AGNI_FUNCTION $HOME"; pwd; echo "$PATH"\n',
    );
    const m = parseManifest(
      'name: vol\nruntime: busybox\ncommand: ["/bin/sh", "/fn/run.sh"]\nenv: {GREETING: hi, DATA: /data/x.txt}\nvolumes: [{name: data, path: /data}]\n',
    );
    const r = hostRunner({
      manifest: m,
      fnDir: fn,
      volumes: [{ name: 'data', hostPath: data, mode: 'ro' }],
      rootfs: undefined,
    });
    assert.ok(typeof r !== 'string');
    const out = await r.once(Buffer.from('payload\n'));
    assert.equal(out.status, 'ok');
    const [first, cwd, path] = out.stdout.trim().split('\n');
    assert.equal(first, 'from the volume payload hi vol /tmp');
    assert.equal(cwd, fn);
    assert.match(path!, /^\/usr\/local\/sbin:/);
    assert.ok(out.wallMs > 0);

    assert.throws(
      () => hostRunner({ manifest: m, fnDir: fn, volumes: [], rootfs: undefined }),
      /volume data of agni.yaml: not declared/,
    );
    const slow = parseManifest(
      'name: slow\nruntime: host\ncommand: ["sleep", "5"]\nlimits: {timeout: 200ms}\n',
    );
    const s = hostRunner({ manifest: slow, fnDir: fn, volumes: [], rootfs: undefined });
    assert.ok(typeof s !== 'string');
    assert.equal((await s.once(Buffer.alloc(0))).status, 'timeout');
    const failing = parseManifest('name: f\nruntime: host\ncommand: "exit 3"\n');
    const f = hostRunner({ manifest: failing, fnDir: fn, volumes: [], rootfs: undefined });
    assert.ok(typeof f !== 'string');
    assert.equal((await f.once(Buffer.alloc(0))).status, 'failed');
  } finally {
    rmSync(fn, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  }
});
