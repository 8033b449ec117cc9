import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from '../core/errors.js';
import { SqlImageAliasRepository } from './image-alias-repo.js';
import { forEachDialect } from './test-stores.js';

forEachDialect((db) => {
  test('aliases are stored normalised, one per canonical name and arch, replaced on set', async () => {
    let t = 1000;
    const repo = new SqlImageAliasRepository(db().store.db, () => t++);
    const a = await repo.set('127.0.0.1:5000/tools/bb:1', 'arm64/v8', '127.0.0.1:5000/tools/bb-arm64:1');
    assert.deepEqual(a, {
      canonical: '127.0.0.1:5000/tools/bb:1',
      arch: 'arm64',
      image: '127.0.0.1:5000/tools/bb-arm64:1',
      createdAt: 1000,
    });
    await repo.set('busybox', 'arm/v7', 'arm32v7/busybox');
    await repo.set('127.0.0.1:5000/tools/bb:1', 'arm64', '127.0.0.1:5000/tools/bb-arm64:2');
    assert.deepEqual(
      (await repo.list()).map((x) => [x.canonical, x.arch, x.image]),
      [
        ['127.0.0.1:5000/tools/bb:1', 'arm64', '127.0.0.1:5000/tools/bb-arm64:2'],
        ['docker.io/library/busybox:latest', 'arm/v7', 'docker.io/arm32v7/busybox:latest'],
      ],
    );
    assert.deepEqual(await repo.forCanonical('docker.io/library/busybox'), [
      { arch: 'arm/v7', image: 'docker.io/arm32v7/busybox:latest' },
    ]);
    assert.deepEqual(await repo.forCanonical('busybox:1'), [], 'another tag has no alias');
    assert.deepEqual(await repo.forCanonical('Not A Reference'), []);

    await assert.rejects(repo.set('x/y', 'aarch64', 'x/z'), (e: unknown) => e instanceof AgniError);
    await assert.rejects(repo.set('x/y', 'arm64', 'docker.io/x/y:latest'), /alias of itself/);
    assert.equal((await repo.list()).length, 2, 'refused aliases are not stored');

    await repo.set('busybox', 'arm64', 'arm64v8/busybox');
    assert.equal(await repo.remove('busybox', 'amd64'), 0);
    assert.equal(await repo.remove('docker.io/library/busybox:latest', 'arm/v7'), 1);
    assert.deepEqual(await repo.forCanonical('busybox'), [
      { arch: 'arm64', image: 'docker.io/arm64v8/busybox:latest' },
    ]);
    assert.equal(await repo.remove('127.0.0.1:5000/tools/bb:1'), 1);
    assert.equal(await repo.remove('busybox'), 1);
    assert.deepEqual(await repo.list(), []);
  });
});
