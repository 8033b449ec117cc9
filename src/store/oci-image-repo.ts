/** Records of images pulled from registries: which manifest, config and layers a name points at. */
import type { Kysely, Selectable } from 'kysely';
import type { Database, OciImageTable } from './schema.js';

export interface OciImageRecord {
  name: string;
  manifestDigest: string;
  indexDigest: string | null;
  configDigest: string;
  layers: { digest: string; size: number; mediaType: string }[];
  /** os/arch[/variant] */
  platform: string;
  sizeBytes: number;
  createdAt: number;
}

export interface OciImageRepository {
  put(r: OciImageRecord): Promise<void>;
  get(name: string): Promise<OciImageRecord | undefined>;
  list(): Promise<OciImageRecord[]>;
  remove(name: string): Promise<boolean>;
  /** every digest any record needs kept in the content store */
  referencedDigests(): Promise<Set<string>>;
}

function fromRow(r: Selectable<OciImageTable['oci_images']>): OciImageRecord {
  return {
    name: r.name,
    manifestDigest: r.manifest_digest,
    indexDigest: r.index_digest,
    configDigest: r.config_digest,
    layers: JSON.parse(r.layers) as OciImageRecord['layers'],
    platform: r.platform,
    sizeBytes: Number(r.size_bytes),
    createdAt: Number(r.created_at),
  };
}

export class SqlOciImageRepository implements OciImageRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async put(r: OciImageRecord): Promise<void> {
    const row = {
      name: r.name,
      manifest_digest: r.manifestDigest,
      index_digest: r.indexDigest,
      config_digest: r.configDigest,
      layers: JSON.stringify(r.layers),
      platform: r.platform,
      size_bytes: r.sizeBytes,
      created_at: r.createdAt,
    };
    await this.db
      .insertInto('oci_images')
      .values(row)
      .onConflict((oc) => oc.column('name').doUpdateSet(row))
      .execute();
  }

  async get(name: string): Promise<OciImageRecord | undefined> {
    const r = await this.db.selectFrom('oci_images').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  async list(): Promise<OciImageRecord[]> {
    return (await this.db.selectFrom('oci_images').selectAll().orderBy('name').execute()).map(fromRow);
  }

  async remove(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('oci_images').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async referencedDigests(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const r of await this.list()) {
      out.add(r.manifestDigest);
      if (r.indexDigest) out.add(r.indexDigest);
      out.add(r.configDigest);
      for (const l of r.layers) out.add(l.digest);
    }
    return out;
  }
}
