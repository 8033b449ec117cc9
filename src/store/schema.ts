/** Table shapes shared by every SQL dialect; JSON columns are stored as text. */
import type { Kysely, Migration } from 'kysely';
import { PostgresAdapter, sql } from 'kysely';

export interface Database
  extends AsyncTable,
    JobTables,
    TriggerTable,
    OciImageTable,
    ImageAliasTable,
    FunctionAliasTable,
    AccessKeyTable,
    ApiTokenTable,
    SecretTable,
    BenchSweepTable {
  /**
   * latest_version is the live version: what a call without a version or alias runs. A deploy makes
   * its new version live; `agni rollback` moves it back to an older one without a new version.
   */
  functions: {
    name: string;
    latest_version: number;
    /** the last version number handed out: bumped in one statement, so concurrent deploys never share one */
    version_seq: number;
    created_at: number;
    updated_at: number;
  };
  versions: {
    function: string;
    version: number;
    manifest: string;
    code_dir: string;
    image_id: string;
    /** cluster mode: JSON of VersionRecord.code (the code image in the cluster registry); null in embedded mode */
    code: string | null;
    created_at: number;
  };
  invocations: {
    id: string;
    function: string;
    version: number;
    status: string;
    exit_code: number | null;
    error: string | null;
    backend: string;
    node: string;
    payload_bytes: number;
    stdout_bytes: number;
    stderr_bytes: number;
    stdout_tail: string;
    stderr_tail: string;
    phases: string;
    created_at: number;
    /** the timeout that applied, ms: a per-call one (Agni-Timeout) or the function's limit */
    timeout_ms: number | null;
    /** the absolute deadline (ms since the epoch) the sandbox was killed at, once it started */
    deadline: number | null;
    /** the alias the call named (null: a version number, or the live version) */
    alias: string | null;
    /**
     * the server instance that took the call (null: written before 0013); recovery fails another
     * server's unfinished rows only once that server stopped beating (src/store/server-instances.ts)
     */
    owner?: string | null;
  };
  /** servers alive on this database: each beats `seen_at` while it runs */
  server_instances: {
    id: string;
    started_at: number;
    seen_at: number;
  };
  images: {
    id: string;
    name: string;
    rootfs: string;
    size_bytes: number;
    files: number;
    source: string;
    created_at: number;
  };
}

export interface AsyncTable {
  /** the invocation's id: one row per async invocation, whatever its number of attempts */
  async_invocations: {
    id: string;
    function: string;
    attempts: number;
    max_attempts: number;
    /** when the next attempt may start (ms since the epoch); null once settled */
    next_attempt_at: number | null;
    idempotency_key: string | null;
    callback_url: string | null;
    /** null: no callback; pending, delivered or failed */
    callback_state: string | null;
    callback_attempts: number;
    callback_next_at: number | null;
    callback_error: string | null;
    dead_letter: number;
    source: string;
    settled_at: number | null;
    created_at: number;
    /** the HTTP request's context (JSON, bounded, credentials removed), passed to every attempt */
    request: string | null;
    /** a by-reference input, `VOLUME:/path` (0017): the payload is empty, the file is on the volume */
    input_ref: string | null;
    /**
     * the payload is a range of a blob that outlives the invocation (a job's stored inputs), as JSON
     * `{key, offset, length}` (0022): nothing was copied, and the settle does not delete it
     */
    payload_ref: string | null;
    /**
     * `VOLUME:/path` (0027): stdout is written straight to this file on a read-write volume (a
     * job's `output_to`), not kept by the queue
     */
    output_to: string | null;
    /** who runs the current attempt (a queue's owner id); null when nobody does */
    owner: string | null;
    /** until when (ms since the epoch) the owner holds it; past that, recovery may take it over */
    lease_until: number | null;
  };
  /**
   * a settled async invocation's stdout when it is small (0025): kept in its row instead of a file
   * of its own, whose creation cost a tiny job item more than its run
   */
  async_outputs: {
    id: string;
    output: Buffer;
  };
}

/** fan-out jobs (src/triggers/jobs.ts): one row per job, one per input */
export interface TriggerTable {
  /** what each trigger of a live version did last (src/store/trigger-state.ts) */
  trigger_state: {
    function: string;
    idx: number;
    kind: string;
    spec: string;
    fires: number;
    last_fired_at: number | null;
    last_invocation_id: string | null;
    last_status: string | null;
    last_error: string | null;
  };
  /** cron ticks claimed: the one server whose insert made the row fires that tick */
  cron_ticks: {
    function: string;
    idx: number;
    /** the scheduled instant (ms since the epoch) */
    tick_at: number;
    claimed_by: string;
    claimed_at: number;
  };
}

export interface JobTables {
  jobs: {
    id: string;
    /** as the job names it: NAME, NAME@VERSION or NAME@ALIAS */
    function: string;
    reduce: string | null;
    /** a bare NAME's version, pinned when the job is created and again when failed items are retried */
    version: number | null;
    reduce_version: number | null;
    concurrency: number;
    status: string;
    run: number;
    /** items already settled when the current run started (for its rate) */
    run_base: number;
    inputs: number;
    input_bytes: number;
    /** the last settle sequence number given to an item */
    settle_seq: number;
    /** 1 while a started job still takes inputs (a streaming upload, 0023); it finishes only once closed */
    inputs_open: number;
    created_at: number;
    started_at: number | null;
    finished_at: number | null;
    reduce_status: string | null;
    reduce_invocation: string | null;
    reduce_error: string | null;
    error: string | null;
    /** `VOLUME:/dir`: each succeeded output (and the reduce's) is also written there (0026) */
    output_to: string | null;
  };
  job_items: {
    job_id: string;
    idx: number;
    name: string;
    status: string;
    /** where the input's bytes are: a file under the job's directory, and a range in it */
    input_file: string;
    input_offset: number;
    input_bytes: number;
    /** a by-reference input, `VOLUME:/path` (0017); null: the bytes are in input_file */
    input_ref: string | null;
    invocation_id: string | null;
    attempts: number;
    outcome: string | null;
    exit_code: number | null;
    error: string | null;
    output_bytes: number | null;
    settled_seq: number | null;
    started_at: number | null;
    finished_at: number | null;
  };
}

/** images pulled from registries (src/store/oci-image-repo.ts); blobs live in the content store */
export interface OciImageTable {
  oci_images: {
    /** the canonical reference it was pulled as: registry/repository:tag */
    name: string;
    manifest_digest: string;
    index_digest: string | null;
    config_digest: string;
    /** JSON list of { digest, size, mediaType } */
    layers: string;
    platform: string;
    size_bytes: number;
    created_at: number;
  };
}

/** per-architecture stand-ins for single-arch images (src/store/image-alias-repo.ts) */
export interface ImageAliasTable {
  image_aliases: {
    /** the name functions use, normalised: registry/repository[:tag][@digest] */
    canonical: string;
    /** OCI architecture, with an optional /variant: amd64, arm64, arm/v7 */
    arch: string;
    /** the image run instead on nodes of that arch, normalised like canonical */
    image: string;
    created_at: number;
  };
}

/** named pointers to versions of a function (src/store/function-alias-repo.ts) */
export interface FunctionAliasTable {
  function_aliases: {
    function: string;
    name: string;
    version: number;
    /** a canary: this other version takes `split_weight` (0..1) of the calls */
    split_version: number | null;
    split_weight: number | null;
    created_at: number;
    updated_at: number;
  };
}

/** AWS-style access keys for signed Lambda API requests (src/store/access-key-repo.ts) */
export interface AccessKeyTable {
  access_keys: {
    name: string;
    access_key_id: string;
    /** the secret access key, AES-256-GCM-sealed with the server key (src/app/secret-box.ts) */
    secret_sealed: string;
    created_at: number;
    last_used_at: number | null;
  };
}

/** named bearer tokens with scopes (src/store/api-token-repo.ts); only a hash of each token is kept */
export interface ApiTokenTable {
  api_tokens: {
    name: string;
    /** hex sha256 of the token: the token has 256 random bits, so a plain hash cannot be reversed */
    token_hash: string;
    /** JSON array of scope strings, e.g. ["deploy", "invoke:fn1,fn2"] */
    scopes: string;
    created_at: number;
    last_used_at: number | null;
  };
}

/** secrets for functions (src/store/secret-repo.ts): values sealed with the server key, never in clear */
export interface SecretTable {
  secrets: {
    name: string;
    /** the value, AES-256-GCM-sealed with $AGNI_HOME/server.key, bound to the name */
    value_sealed: string;
    /** the value's length in bytes (shown by `agni secret ls`) */
    size: number;
    created_at: number;
    updated_at: number;
  };
}

/** published `agni bench sweep` summaries (src/store/bench-sweep-repo.ts), for the dashboard's charts */
export interface BenchSweepTable {
  bench_sweeps: {
    id: string;
    /** the swept function's name, as the summary says */
    function: string;
    /** the summary, JSON */
    summary: string;
    created_at: number;
  };
}

export const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('functions')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('latest_version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('versions')
        .addColumn('function', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('manifest', 'text', (c) => c.notNull())
        .addColumn('code_dir', 'text', (c) => c.notNull())
        .addColumn('image_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('versions_pk', ['function', 'version'])
        .execute();
      await db.schema
        .createTable('invocations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('function', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('exit_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('backend', 'text', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('payload_bytes', 'bigint', (c) => c.notNull())
        .addColumn('stdout_bytes', 'bigint', (c) => c.notNull())
        .addColumn('stderr_bytes', 'bigint', (c) => c.notNull())
        .addColumn('stdout_tail', 'text', (c) => c.notNull())
        .addColumn('stderr_tail', 'text', (c) => c.notNull())
        .addColumn('phases', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('invocations_fn_created')
        .on('invocations')
        .columns(['function', 'created_at'])
        .execute();
      await db.schema.createIndex('invocations_status').on('invocations').column('status').execute();
      await db.schema
        .createTable('images')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('rootfs', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('files', 'integer', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await sql`select 1`.execute(db);
    },
  },
  '0002_async': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('async_invocations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('function', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('idempotency_key', 'text', (c) => c.unique())
        .addColumn('callback_url', 'text')
        .addColumn('callback_state', 'text')
        .addColumn('callback_attempts', 'integer', (c) => c.notNull())
        .addColumn('callback_next_at', 'bigint')
        .addColumn('callback_error', 'text')
        .addColumn('dead_letter', 'integer', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('settled_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('async_due').on('async_invocations').columns(['next_attempt_at']).execute();
      await db.schema
        .createIndex('async_callbacks')
        .on('async_invocations')
        .columns(['callback_state', 'callback_next_at'])
        .execute();
    },
  },
  '0003_triggers': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('trigger_state')
        .addColumn('function', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('fires', 'integer', (c) => c.notNull())
        .addColumn('last_fired_at', 'bigint')
        .addColumn('last_invocation_id', 'text')
        .addColumn('last_status', 'text')
        .addColumn('last_error', 'text')
        .addPrimaryKeyConstraint('trigger_state_pk', ['function', 'idx'])
        .execute();
      await db.schema
        .createIndex('trigger_state_invocation')
        .on('trigger_state')
        .column('last_invocation_id')
        .execute();
    },
  },
  '0004_jobs': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('function', 'text', (c) => c.notNull())
        .addColumn('reduce', 'text')
        .addColumn('concurrency', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('run', 'integer', (c) => c.notNull())
        .addColumn('run_base', 'integer', (c) => c.notNull())
        .addColumn('inputs', 'integer', (c) => c.notNull())
        .addColumn('input_bytes', 'bigint', (c) => c.notNull())
        .addColumn('settle_seq', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('reduce_status', 'text')
        .addColumn('reduce_invocation', 'text')
        .addColumn('reduce_error', 'text')
        .addColumn('error', 'text')
        .execute();
      await db.schema.createIndex('jobs_status').on('jobs').column('status').execute();
      await db.schema
        .createTable('job_items')
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('input_file', 'text', (c) => c.notNull())
        .addColumn('input_offset', 'bigint', (c) => c.notNull())
        .addColumn('input_bytes', 'bigint', (c) => c.notNull())
        .addColumn('invocation_id', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('outcome', 'text')
        .addColumn('exit_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('output_bytes', 'bigint')
        .addColumn('settled_seq', 'integer')
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addPrimaryKeyConstraint('job_items_pk', ['job_id', 'idx'])
        .execute();
      await db.schema
        .createIndex('job_items_status')
        .on('job_items')
        .columns(['job_id', 'status', 'idx'])
        .execute();
      await db.schema
        .createIndex('job_items_seq')
        .on('job_items')
        .columns(['job_id', 'settled_seq'])
        .execute();
      await db.schema.createIndex('job_items_invocation').on('job_items').column('invocation_id').execute();
    },
  },
  '0005_oci_images': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('oci_images')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addColumn('index_digest', 'text')
        .addColumn('config_digest', 'text', (c) => c.notNull())
        .addColumn('layers', 'text', (c) => c.notNull())
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0006_image_aliases': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('image_aliases')
        .addColumn('canonical', 'text', (c) => c.notNull())
        .addColumn('arch', 'text', (c) => c.notNull())
        .addColumn('image', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('image_aliases_pk', ['canonical', 'arch'])
        .execute();
    },
  },
  '0007_function_aliases': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('function_aliases')
        .addColumn('function', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('split_version', 'integer')
        .addColumn('split_weight', 'double precision')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('function_aliases_pk', ['function', 'name'])
        .execute();
      await db.schema.alterTable('invocations').addColumn('alias', 'text').execute();
      await db.schema.alterTable('jobs').addColumn('version', 'integer').execute();
      await db.schema.alterTable('jobs').addColumn('reduce_version', 'integer').execute();
    },
  },
  '0008_request_context': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('invocations').addColumn('timeout_ms', 'integer').execute();
      await db.schema.alterTable('invocations').addColumn('deadline', 'bigint').execute();
      await db.schema.alterTable('async_invocations').addColumn('request', 'text').execute();
    },
  },
  '0009_access_keys': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('access_keys')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('access_key_id', 'text', (c) => c.notNull().unique())
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
    },
  },
  '0010_cluster_state': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('functions')
        .addColumn('version_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      // Numbers never repeat for a name: start past every version stored and the live one.
      await sql`update functions set version_seq = coalesce((select max(v.version) from versions v where v.function = functions.name), 0)`.execute(
        db,
      );
      await sql`update functions set version_seq = latest_version where latest_version > version_seq`.execute(
        db,
      );
      await db.schema.alterTable('async_invocations').addColumn('owner', 'text').execute();
      await db.schema.alterTable('async_invocations').addColumn('lease_until', 'bigint').execute();
    },
  },
  '0011_version_code': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('versions').addColumn('code', 'text').execute();
    },
  },
  '0013_cluster_agreement': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('invocations').addColumn('owner', 'text').execute();
      await db.schema
        .createTable('server_instances')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('seen_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('cron_ticks')
        .addColumn('function', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('tick_at', 'bigint', (c) => c.notNull())
        .addColumn('claimed_by', 'text', (c) => c.notNull())
        .addColumn('claimed_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('cron_ticks_pk', ['function', 'idx', 'tick_at'])
        .execute();
    },
  },
  '0015_api_tokens': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('api_tokens')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
    },
  },
  '0016_secrets': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value_sealed', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0017_input_refs': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('job_items').addColumn('input_ref', 'text').execute();
      await db.schema.alterTable('async_invocations').addColumn('input_ref', 'text').execute();
    },
  },
  '0020_bench_sweeps': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('bench_sweeps')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('function', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('bench_sweeps_created').on('bench_sweeps').column('created_at').execute();
    },
  },
  '0022_payload_refs': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('async_invocations').addColumn('payload_ref', 'text').execute();
    },
  },
  '0023_open_jobs': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('jobs')
        .addColumn('inputs_open', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  '0024_unfinished_index': {
    // Only unfinished rows are ever looked up by status (recovery): a finished call, most of the
    // table and every short call written once at its end, then costs no index write at all.
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('invocations_status').execute();
      await db.schema
        .createIndex('invocations_unfinished')
        .on('invocations')
        .column('status')
        .where(sql.ref('status'), 'in', ['queued', 'running'])
        .execute();
    },
  },
  '0025_async_outputs': {
    async up(db: Kysely<unknown>) {
      const pg = db.getExecutor().adapter instanceof PostgresAdapter;
      await db.schema
        .createTable('async_outputs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('output', pg ? 'bytea' : 'blob', (c) => c.notNull())
        .execute();
    },
  },
  '0026_job_output_to': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('jobs').addColumn('output_to', 'text').execute();
    },
  },
  '0027_async_output_to': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('async_invocations').addColumn('output_to', 'text').execute();
    },
  },
};
