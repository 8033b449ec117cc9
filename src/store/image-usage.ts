/**
 * Which function versions pin which image: local rootfs images by id, OCI images as
 * `oci:<manifest digest>`. Every stored version counts (a function's old versions can be rolled
 * back to), so a removal or prune never takes an image one of them names.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface ImageUser {
  function: string;
  version: number;
  imageId: string;
}

export async function imageUsers(db: Kysely<Database>): Promise<ImageUser[]> {
  const rows = await db
    .selectFrom('versions')
    .select(['function', 'version', 'image_id'])
    .where('image_id', '!=', 'host')
    .orderBy('function')
    .orderBy('version')
    .execute();
  return rows.map((r) => ({ function: r.function, version: Number(r.version), imageId: r.image_id }));
}
