/**
 * From `NAME`, `NAME@3` or `NAME@prod` to the version record a call runs. Every way in (sync, async,
 * pipe stages, jobs, triggers) resolves here, so they all agree, and the record says which alias ran.
 */
import { pickVersion } from '../core/alias-split.js';
import { AgniError } from '../core/errors.js';
import type { Qualifier } from '../core/qualifier.js';
import type { FunctionAliasRepository } from './function-alias-repo.js';
import type { Store, VersionRecord } from './store.js';

export interface Resolved {
  version: VersionRecord;
  /** the alias the call named, else null */
  alias: string | null;
}

export type VersionLookup = Pick<Store, 'getLatestVersion' | 'getVersion'>;

export class VersionResolver {
  constructor(
    private readonly store: VersionLookup,
    private readonly aliases: Pick<FunctionAliasRepository, 'get'>,
    /** picks a side of a split alias; injected so a test can seed it */
    private readonly random: () => number = Math.random,
  ) {}

  async resolve(name: string, q: Qualifier = { kind: 'live' }): Promise<Resolved> {
    const live = await this.store.getLatestVersion(name);
    if (!live) {
      throw new AgniError('function_not_found', `no function named ${name}`, {
        hint: 'list functions with `agni ls`, or deploy one with `agni deploy DIR`',
      });
    }
    if (q.kind === 'live') return { version: live, alias: null };
    if (q.kind === 'version') return { version: await this.version(name, q.version), alias: null };
    const a = await this.aliases.get(name, q.alias);
    if (!a) {
      throw new AgniError('alias_not_found', `${name} has no alias ${q.alias}`, {
        hint: `list its aliases with \`agni alias ls ${name}\`, or set one with \`agni alias set ${name} ${q.alias} VERSION\``,
      });
    }
    return { version: await this.version(name, pickVersion(a, this.random)), alias: a.name };
  }

  private async version(name: string, v: number): Promise<VersionRecord> {
    const found = await this.store.getVersion(name, v);
    if (!found) {
      throw new AgniError('version_not_found', `${name} has no version ${v}`, {
        hint: `list its versions with \`agni versions ${name}\``,
      });
    }
    return found;
  }
}
