/**
 * Store over any Kysely dialect. Only the dialect differs between SQLite and PostgreSQL, so the
 * queries below are written once.
 */
import { type Kysely, Migrator, type Selectable } from 'kysely';
import { DEFAULT_BACKOFF_MS, type Manifest } from '../core/manifest.js';

const MANIFEST_DEFAULTS: Partial<Manifest> = { retries: 0, backoff: DEFAULT_BACKOFF_MS, triggers: [] };

import { type ChangeStamp, LocalCache } from './local-cache.js';
import type { Database } from './schema.js';
import { migrations } from './schema.js';
import type { SqliteGroupCommit } from './sqlite-group-commit.js';
import type {
  FailUnfinishedOptions,
  FunctionRecord,
  ImageRecord,
  InvocationFilter,
  InvocationPatch,
  InvocationRecord,
  InvocationStatus,
  Store,
  VersionCode,
  VersionRecord,
  WriteOptions,
} from './store.js';

function toVersion(r: Selectable<Database['versions']>): VersionRecord {
  // Versions deployed before a manifest field existed get that field's default.
  const manifest = { ...MANIFEST_DEFAULTS, ...(JSON.parse(r.manifest) as Partial<Manifest>) } as Manifest;
  return {
    function: r.function,
    version: Number(r.version),
    manifest,
    codeDir: r.code_dir,
    imageId: r.image_id,
    ...(r.code ? { code: JSON.parse(r.code) as VersionCode } : {}),
    createdAt: Number(r.created_at),
  };
}

export function toInvocation(r: Selectable<Database['invocations']>): InvocationRecord {
  return {
    id: r.id,
    function: r.function,
    version: Number(r.version),
    alias: r.alias ?? null,
    status: r.status as InvocationStatus,
    exitCode: r.exit_code === null ? null : Number(r.exit_code),
    error: r.error,
    backend: r.backend,
    node: r.node,
    payloadBytes: Number(r.payload_bytes),
    stdoutBytes: Number(r.stdout_bytes),
    stderrBytes: Number(r.stderr_bytes),
    stdoutTail: r.stdout_tail,
    stderrTail: r.stderr_tail,
    phases: JSON.parse(r.phases),
    createdAt: Number(r.created_at),
    timeoutMs: r.timeout_ms === null ? null : Number(r.timeout_ms),
    deadline: r.deadline === null ? null : Number(r.deadline),
  };
}

export function invocationRow(r: InvocationRecord): Database['invocations'] {
  return {
    id: r.id,
    function: r.function,
    version: r.version,
    status: r.status,
    exit_code: r.exitCode,
    error: r.error,
    backend: r.backend,
    node: r.node,
    payload_bytes: r.payloadBytes,
    stdout_bytes: r.stdoutBytes,
    stderr_bytes: r.stderrBytes,
    stdout_tail: r.stdoutTail,
    stderr_tail: r.stderrTail,
    phases: JSON.stringify(r.phases),
    created_at: r.createdAt,
    timeout_ms: r.timeoutMs,
    deadline: r.deadline,
    alias: r.alias,
  };
}

function toImage(r: Selectable<Database['images']>): ImageRecord {
  return {
    id: r.id,
    name: r.name,
    rootfs: r.rootfs,
    sizeBytes: Number(r.size_bytes),
    files: Number(r.files),
    source: r.source,
    createdAt: Number(r.created_at),
  };
}

/** one version's row, in or out of a transaction */
function versionRow(db: Kysely<Database>, name: string, version: number) {
  return db
    .selectFrom('versions')
    .selectAll()
    .where('function', '=', name)
    .where('version', '=', version)
    .executeTakeFirst();
}

/** the owner of embedded mode's rows: one server, the same across restarts */
export const DEFAULT_INSTANCE = 'embedded';
/** a server not seen for this long is gone: its unfinished sync invocations are failed by the others */
export const DEFAULT_INSTANCE_LEASE_MS = 30_000;

/** the invocations columns a patch sets (those it leaves undefined stay as they are) */
export function invocationSet(p: InvocationPatch): Partial<Database['invocations']> {
  const set: Partial<Database['invocations']> = {};
  if (p.status !== undefined) set.status = p.status;
  if (p.exitCode !== undefined) set.exit_code = p.exitCode;
  if (p.error !== undefined) set.error = p.error;
  if (p.backend !== undefined) set.backend = p.backend;
  if (p.node !== undefined) set.node = p.node;
  if (p.payloadBytes !== undefined) set.payload_bytes = p.payloadBytes;
  if (p.stdoutBytes !== undefined) set.stdout_bytes = p.stdoutBytes;
  if (p.stderrBytes !== undefined) set.stderr_bytes = p.stderrBytes;
  if (p.stdoutTail !== undefined) set.stdout_tail = p.stdoutTail;
  if (p.stderrTail !== undefined) set.stderr_tail = p.stderrTail;
  if (p.phases !== undefined) set.phases = JSON.stringify(p.phases);
  if (p.timeoutMs !== undefined) set.timeout_ms = p.timeoutMs;
  if (p.deadline !== undefined) set.deadline = p.deadline;
  return set;
}

export class SqlStore implements Store {
  private closed = false;

  constructor(
    /** shared with the other SQL repositories (triggers, jobs) so they use one connection */
    readonly db: Kysely<Database>,
    /** this server instance: the owner of the sync invocations it records */
    readonly owner: string = DEFAULT_INSTANCE,
    /**
     * where `lazy` invocation writes go (WriteOptions): PostgreSQL connections of their own with
     * synchronous_commit off; absent, they go to `db` like any other
     */
    readonly lazyDb?: Kysely<Database>,
    /**
     * SQLite's: lets every call's live-version read come from memory while nobody else has written
     * (local-cache.ts); absent on PostgreSQL, where other servers write
     */
    readonly changeStamp?: ChangeStamp,
    /** SQLite's: `lazy` invocation writes of one event-loop turn committed together */
    private readonly groupCommit?: SqliteGroupCommit,
  ) {
    this.live = changeStamp ? new LocalCache(changeStamp) : undefined;
    this.versions = changeStamp ? new LocalCache(changeStamp) : undefined;
  }

  private readonly live: LocalCache<string, VersionRecord | undefined> | undefined;
  /** versions by `name@version`: every async attempt and job item reads its own twice */
  private readonly versions: LocalCache<string, VersionRecord | undefined> | undefined;

  /** runs a write that may change what is live or which versions exist (LocalCache.around) */
  private changingLive<T>(write: () => Promise<T>): Promise<T> {
    const live = this.live;
    const versions = this.versions;
    if (!live || !versions) return write();
    return live.around(() => versions.around(write));
  }

  private writer(o: WriteOptions | undefined): Kysely<Database> {
    return o?.lazy && this.lazyDb ? this.lazyDb : this.db;
  }

  async migrate(): Promise<void> {
    // Unordered: migrations are numbered per branch of work, so one may land after a higher number ran.
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: async () => migrations },
      allowUnorderedMigrations: true,
    });
    const { error } = await migrator.migrateToLatest();
    if (error) throw error;
  }

  async addVersion(v: Omit<VersionRecord, 'version' | 'createdAt'>): Promise<VersionRecord> {
    const now = Date.now();
    return this.changingLive(() =>
      this.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('functions')
          .values({ name: v.function, latest_version: 0, version_seq: 0, created_at: now, updated_at: now })
          .onConflict((oc) => oc.column('name').doNothing())
          .execute();
        // One statement takes the row lock and the next number, so concurrent deploys (other
        // servers on PostgreSQL) each get their own; the lock holds until this version is in.
        const r = await trx
          .updateTable('functions')
          .set((eb) => ({
            version_seq: eb('version_seq', '+', 1),
            latest_version: eb('version_seq', '+', 1),
            updated_at: now,
          }))
          .where('name', '=', v.function)
          .returning('version_seq')
          .executeTakeFirstOrThrow();
        const version = Number(r.version_seq);
        await trx
          .insertInto('versions')
          .values({
            function: v.function,
            version,
            manifest: JSON.stringify(v.manifest),
            code_dir: v.codeDir,
            image_id: v.imageId,
            code: v.code ? JSON.stringify(v.code) : null,
            created_at: now,
          })
          .execute();
        return { ...v, version, createdAt: now };
      }),
    );
  }

  async getFunction(name: string): Promise<FunctionRecord | undefined> {
    const v = await this.getLatestVersion(name);
    if (!v) return undefined;
    const count = await this.db
      .selectFrom('versions')
      .select((eb) => [eb.fn.countAll().as('n'), eb.fn.max('version').as('newest')])
      .where('function', '=', name)
      .executeTakeFirstOrThrow();
    return { ...v, versions: Number(count.n), newest: Number(count.newest) };
  }

  getLatestVersion(name: string): Promise<VersionRecord | undefined> {
    return this.live ? this.live.get(name, () => this.readLatestVersion(name)) : this.readLatestVersion(name);
  }

  private async readLatestVersion(name: string): Promise<VersionRecord | undefined> {
    const r = await this.db
      .selectFrom('functions')
      .innerJoin('versions', (j) =>
        j
          .onRef('versions.function', '=', 'functions.name')
          .onRef('versions.version', '=', 'functions.latest_version'),
      )
      .selectAll('versions')
      .where('functions.name', '=', name)
      .executeTakeFirst();
    return r ? toVersion(r) : undefined;
  }

  async setLiveVersion(name: string, version: number): Promise<VersionRecord | undefined> {
    return this.changingLive(() =>
      this.db.transaction().execute(async (trx) => {
        const r = await versionRow(trx, name, version);
        if (!r) return undefined;
        await trx
          .updateTable('functions')
          .set({ latest_version: version, updated_at: Date.now() })
          .where('name', '=', name)
          .execute();
        return toVersion(r);
      }),
    );
  }

  async removeVersion(
    name: string,
    version: number,
  ): Promise<
    { removed: VersionRecord } | { live: true } | { aliases: string[] } | { jobs: string[] } | undefined
  > {
    return this.changingLive(() =>
      this.db.transaction().execute(async (trx) => {
        const r = await versionRow(trx, name, version);
        if (!r) return undefined;
        const fn = await trx
          .selectFrom('functions')
          .select('latest_version')
          .where('name', '=', name)
          .executeTakeFirst();
        if (Number(fn?.latest_version) === version) return { live: true as const };
        const named = await trx
          .selectFrom('function_aliases')
          .select('name')
          .where('function', '=', name)
          .where((eb) => eb.or([eb('version', '=', version), eb('split_version', '=', version)]))
          .orderBy('name')
          .execute();
        if (named.length > 0) return { aliases: named.map((a) => a.name) };
        const pinned = `${name}@${version}`;
        const jobs = await trx
          .selectFrom('jobs')
          .select('id')
          .where('status', 'in', ['open', 'running', 'reducing'])
          .where((eb) =>
            eb.or([
              eb.and([eb('function', '=', name), eb('version', '=', version)]),
              eb('function', '=', pinned),
              eb.and([eb('reduce', '=', name), eb('reduce_version', '=', version)]),
              eb('reduce', '=', pinned),
            ]),
          )
          .orderBy('id')
          .execute();
        if (jobs.length > 0) return { jobs: jobs.map((j) => j.id) };
        await trx
          .deleteFrom('versions')
          .where('function', '=', name)
          .where('version', '=', version)
          .execute();
        return { removed: toVersion(r) };
      }),
    );
  }

  getVersion(name: string, version: number): Promise<VersionRecord | undefined> {
    const read = async () => {
      const r = await versionRow(this.db, name, version);
      return r ? toVersion(r) : undefined;
    };
    return this.versions ? this.versions.get(`${name}@${version}`, read) : read();
  }

  async listFunctions(): Promise<FunctionRecord[]> {
    const names = await this.db.selectFrom('functions').select('name').orderBy('name').execute();
    const out: FunctionRecord[] = [];
    for (const { name } of names) {
      const f = await this.getFunction(name);
      if (f) out.push(f);
    }
    return out;
  }

  async listVersions(name: string): Promise<VersionRecord[]> {
    const rows = await this.db
      .selectFrom('versions')
      .selectAll()
      .where('function', '=', name)
      .orderBy('version', 'desc')
      .execute();
    return rows.map(toVersion);
  }

  async removeFunction(name: string): Promise<VersionRecord[]> {
    return this.changingLive(() =>
      this.db.transaction().execute(async (trx) => {
        const rows = await trx.selectFrom('versions').selectAll().where('function', '=', name).execute();
        await trx.deleteFrom('versions').where('function', '=', name).execute();
        await trx.deleteFrom('functions').where('name', '=', name).execute();
        // A later deploy of the same name starts without aliases to versions it never had.
        await trx.deleteFrom('function_aliases').where('function', '=', name).execute();
        return rows.map(toVersion);
      }),
    );
  }

  async createInvocation(r: InvocationRecord, o?: WriteOptions): Promise<void> {
    const insert = this.writer(o)
      .insertInto('invocations')
      .values({ ...invocationRow(r), owner: this.owner });
    if (o?.lazy && this.groupCommit) return this.groupCommit.run(insert.compile());
    await insert.execute();
  }

  async updateInvocation(id: string, p: InvocationPatch, o?: WriteOptions): Promise<void> {
    const set = invocationSet(p);
    if (Object.keys(set).length === 0) return;
    const update = this.writer(o).updateTable('invocations').set(set).where('id', '=', id);
    if (o?.lazy && this.groupCommit) return this.groupCommit.run(update.compile());
    await update.execute();
  }

  async getInvocation(id: string): Promise<InvocationRecord | undefined> {
    const r = await this.db.selectFrom('invocations').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toInvocation(r) : undefined;
  }

  async listInvocations(q: InvocationFilter & { limit: number }): Promise<InvocationRecord[]> {
    let query = this.db.selectFrom('invocations').selectAll();
    if (q.function) query = query.where('function', '=', q.function);
    if (q.status?.length) query = query.where('status', 'in', q.status);
    if (q.since !== undefined) query = query.where('created_at', '>=', q.since);
    if (q.until !== undefined) query = query.where('created_at', '<', q.until);
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
    return rows.map(toInvocation);
  }

  async beat(now: number): Promise<void> {
    await this.db
      .insertInto('server_instances')
      .values({ id: this.owner, started_at: now, seen_at: now })
      .onConflict((oc) => oc.column('id').doUpdateSet({ seen_at: now }))
      .execute();
  }

  async failUnfinished(reason: string, o: FailUnfinishedOptions = {}): Promise<number> {
    const now = o.now ?? Date.now();
    const since = now - (o.leaseMs ?? DEFAULT_INSTANCE_LEASE_MS);
    const r = await this.db
      .updateTable('invocations')
      .set({ status: 'error', error: reason })
      .where('status', 'in', ['queued', 'running'])
      // Async invocations are durable: the async queue runs them again instead.
      .where('id', 'not in', (eb) => eb.selectFrom('async_invocations').select('id'))
      .where((eb) =>
        o.scope === 'gone'
          ? // Owners that stopped beating (a server that beats is running its calls).
            eb.and([
              eb('owner', 'is not', null),
              eb('owner', '!=', this.owner),
              eb(
                'owner',
                'not in',
                eb.selectFrom('server_instances').select('id').where('seen_at', '>=', since),
              ),
            ])
          : // This instance's previous life, and rows from before owners.
            eb.or([eb('owner', 'is', null), eb('owner', '=', this.owner)]),
      )
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async putImage(img: ImageRecord): Promise<ImageRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const old = await trx.selectFrom('images').selectAll().where('name', '=', img.name).executeTakeFirst();
      if (old) await trx.deleteFrom('images').where('name', '=', img.name).execute();
      await trx
        .insertInto('images')
        .values({
          id: img.id,
          name: img.name,
          rootfs: img.rootfs,
          size_bytes: img.sizeBytes,
          files: img.files,
          source: img.source,
          created_at: img.createdAt,
        })
        .execute();
      return old ? toImage(old) : undefined;
    });
  }

  async getImage(name: string): Promise<ImageRecord | undefined> {
    const r = await this.db.selectFrom('images').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toImage(r) : undefined;
  }

  async getImageById(id: string): Promise<ImageRecord | undefined> {
    const r = await this.db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toImage(r) : undefined;
  }

  async listImages(): Promise<ImageRecord[]> {
    const rows = await this.db.selectFrom('images').selectAll().orderBy('name').execute();
    return rows.map(toImage);
  }

  async removeImage(name: string): Promise<void> {
    await this.db.deleteFrom('images').where('name', '=', name).execute();
  }

  async imageIdsInUse(): Promise<Set<string>> {
    const rows = await this.db.selectFrom('versions').select('image_id').distinct().execute();
    return new Set(rows.map((r) => r.image_id));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.groupCommit?.drain();
    await Promise.all([this.db.destroy(), this.lazyDb?.destroy()]);
  }
}
