/** Table shapes shared by every SQL dialect; JSON columns are stored as text. */
import type { Kysely, Migration } from 'kysely';
import { sql } from 'kysely';

export interface Database {
  functions: { name: string; latest_version: number; created_at: number; updated_at: number };
  versions: {
    function: string;
    version: number;
    manifest: string;
    code_dir: string;
    image_id: string;
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
};
