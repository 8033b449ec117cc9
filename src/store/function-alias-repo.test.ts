import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from '../core/errors.js';
import { parseManifest } from '../core/manifest.js';
import type { JobStatus } from '../triggers/jobs-types.js';
import { SqlFunctionAliasRepository } from './function-alias-repo.js';
import { type JobRow, SqlJobRepository } from './job-repo.js';
import { forEachDialect, newJobRow } from './test-stores.js';
import { VersionResolver } from './version-resolver.js';

forEachDialect((db) => {
  async function deploy(name: string) {
    return db().store.addVersion({
      function: name,
      manifest: parseManifest(`name: ${name}\nruntime: host\ncommand: x\n`),
      codeDir: `/nowhere/${name}`,
      imageId: 'host',
    });
  }

  test('aliases are one per function and name, replaced on set, listed by name, removed alone', async () => {
    let t = 1000;
    const repo = new SqlFunctionAliasRepository(db().store.db, () => t++);
    const a = await repo.set('f', 'prod', { version: 1 });
    assert.deepEqual(a, { function: 'f', name: 'prod', version: 1, createdAt: 1000, updatedAt: 1000 });
    await repo.set('f', 'canary', { version: 1, split: { version: 2, weight: 0.1 } });
    await repo.set('g', 'prod', { version: 5 });
    const moved = await repo.set('f', 'prod', { version: 2 });
    assert.equal(moved.version, 2);
    assert.equal(moved.createdAt, 1000, 'created stays');
    assert.equal(moved.updatedAt, 1003);
    assert.deepEqual(
      (await repo.list('f')).map((x) => [x.name, x.version, x.split]),
      [
        ['canary', 1, { version: 2, weight: 0.1 }],
        ['prod', 2, undefined],
      ],
    );
    // Replacing a split alias by a plain one drops the split.
    assert.equal((await repo.set('f', 'canary', { version: 1 })).split, undefined);
    assert.equal(await repo.remove('f', 'nope'), false);
    assert.equal(await repo.remove('f', 'canary'), true);
    assert.deepEqual(
      (await repo.list('f')).map((x) => x.name),
      ['prod'],
    );
    assert.equal(
      (await repo.get('g', 'prod'))?.version,
      5,
      "another function's alias of the same name stays",
    );
    await repo.remove('f', 'prod');
    await repo.remove('g', 'prod');
  });

  test('a live version or a version an alias names is not removed; removing the function drops its aliases', async () => {
    const repo = new SqlFunctionAliasRepository(db().store.db);
    for (let i = 0; i < 4; i++) await deploy('h');
    await repo.set('h', 'prod', { version: 1 });
    await repo.set('h', 'canary', { version: 1, split: { version: 2, weight: 0.5 } });
    assert.deepEqual(await db().store.removeVersion('h', 4), { live: true });
    assert.deepEqual(await db().store.removeVersion('h', 1), { aliases: ['canary', 'prod'] });
    assert.deepEqual(
      await db().store.removeVersion('h', 2),
      { aliases: ['canary'] },
      'a split names a version too',
    );
    assert.equal(await db().store.removeVersion('h', 9), undefined);
    // An unfinished job that pins a version keeps it; a finished one does not.
    const jobs = new SqlJobRepository(db().store.db);
    const job = (id: string, fn: string, version: number | null, status: JobStatus): JobRow =>
      newJobRow({ id, function: fn, version, status });
    await jobs.create(job('job-a', 'h', 3, 'running'));
    await jobs.create(job('job-b', 'h@3', null, 'open'));
    await jobs.create(job('job-c', 'h', 3, 'succeeded'));
    assert.deepEqual(await db().store.removeVersion('h', 3), { jobs: ['job-a', 'job-b'] });
    await jobs.remove('job-a');
    await jobs.remove('job-b');
    await repo.remove('h', 'prod');
    await repo.remove('h', 'canary');
    const r = await db().store.removeVersion('h', 1);
    assert.ok(r && 'removed' in r && r.removed.version === 1);
    const r3 = await db().store.removeVersion('h', 3);
    assert.ok(r3 && 'removed' in r3, 'only a finished job named it');
    assert.deepEqual(
      (await db().store.listVersions('h')).map((v) => v.version),
      [4, 2],
    );
    await db().store.removeFunction('h');
    assert.deepEqual(await repo.list('h'), []);
    await deploy('h');
    assert.deepEqual(await repo.list('h'), [], 'a new function of the same name has no aliases');
  });

  test('the live pointer moves back on rollback and forward on the next deploy', async () => {
    for (let i = 0; i < 3; i++) await deploy('r');
    assert.equal((await db().store.setLiveVersion('r', 1))?.version, 1);
    assert.equal((await db().store.getLatestVersion('r'))?.version, 1);
    const f = await db().store.getFunction('r');
    assert.equal(f?.version, 1);
    assert.equal(f?.newest, 3);
    assert.equal(await db().store.setLiveVersion('r', 9), undefined);
    assert.equal((await db().store.getLatestVersion('r'))?.version, 1, 'a missing version changes nothing');
    assert.equal((await deploy('r')).version, 4);
    assert.equal((await db().store.getLatestVersion('r'))?.version, 4);
  });

  test('the resolver gives the live version, a version, or what an alias picks, naming what is missing', async () => {
    for (let i = 0; i < 2; i++) await deploy('s');
    const repo = new SqlFunctionAliasRepository(db().store.db);
    await repo.set('s', 'prod', { version: 1, split: { version: 2, weight: 0.5 } });
    let next = 0.9;
    const resolver = new VersionResolver(db().store, repo, () => next);
    assert.deepEqual(await resolver.resolve('s').then((r) => [r.version.version, r.alias]), [2, null]);
    assert.equal((await resolver.resolve('s', { kind: 'version', version: 1 })).version.version, 1);
    const a = await resolver.resolve('s', { kind: 'alias', alias: 'prod' });
    assert.deepEqual([a.version.version, a.alias], [1, 'prod']);
    next = 0.1;
    assert.equal((await resolver.resolve('s', { kind: 'alias', alias: 'prod' })).version.version, 2);
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e) => (isAgniError(e) ? e.code : String(e)),
      );
    assert.equal(await code(resolver.resolve('nope')), 'function_not_found');
    assert.equal(
      await code(resolver.resolve('nope', { kind: 'alias', alias: 'prod' })),
      'function_not_found',
    );
    assert.equal(await code(resolver.resolve('s', { kind: 'version', version: 7 })), 'version_not_found');
    assert.equal(await code(resolver.resolve('s', { kind: 'alias', alias: 'beta' })), 'alias_not_found');
  });
});
