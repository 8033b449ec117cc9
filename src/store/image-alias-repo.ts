/** Image aliases in the state store: on nodes of `arch`, `canonical` means `image`. */
import type { Kysely, Selectable } from 'kysely';
import { checkAlias, normaliseImageName, parseArch } from '../image/oci/image-alias.js';
import type { Database, ImageAliasTable } from './schema.js';

export interface ImageAlias {
  canonical: string;
  /** arch[/variant] as OCI names it: arm64, arm/v7 */
  arch: string;
  image: string;
  createdAt: number;
}

export interface ImageAliasRepository {
  /** validates and normalises; replaces the alias the canonical name had for that arch */
  set(canonical: string, arch: string, image: string): Promise<ImageAlias>;
  /** every alias of `canonical`, or only the one for `arch`; returns how many were removed */
  remove(canonical: string, arch?: string): Promise<number>;
  list(): Promise<ImageAlias[]>;
  /** the aliases of a name (normalised first); none for a name that is not a valid reference */
  forCanonical(canonical: string): Promise<{ arch: string; image: string }[]>;
}

function fromRow(r: Selectable<ImageAliasTable['image_aliases']>): ImageAlias {
  return { canonical: r.canonical, arch: r.arch, image: r.image, createdAt: Number(r.created_at) };
}

export class SqlImageAliasRepository implements ImageAliasRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async set(canonical: string, arch: string, image: string): Promise<ImageAlias> {
    const a = checkAlias({ canonical, arch, image });
    const row = { canonical: a.canonical, arch: a.arch, image: a.image, created_at: this.now() };
    await this.db
      .insertInto('image_aliases')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['canonical', 'arch']).doUpdateSet({ image: row.image, created_at: row.created_at }),
      )
      .execute();
    return fromRow(row);
  }

  async remove(canonical: string, arch?: string): Promise<number> {
    let q = this.db.deleteFrom('image_aliases').where('canonical', '=', normaliseImageName(canonical));
    if (arch !== undefined) q = q.where('arch', '=', parseArch(arch));
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async list(): Promise<ImageAlias[]> {
    const rows = await this.db
      .selectFrom('image_aliases')
      .selectAll()
      .orderBy('canonical')
      .orderBy('arch')
      .execute();
    return rows.map(fromRow);
  }

  async forCanonical(canonical: string): Promise<{ arch: string; image: string }[]> {
    let name: string;
    try {
      name = normaliseImageName(canonical);
    } catch {
      // Any runtime may be asked about; set() never stores a name that does not parse.
      return [];
    }
    return this.db
      .selectFrom('image_aliases')
      .select(['arch', 'image'])
      .where('canonical', '=', name)
      .orderBy('arch')
      .execute();
  }
}
