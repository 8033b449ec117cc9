/**
 * What runs without a new upload: `agni rollback` moves the live version back, aliases name
 * versions (with an optional canary split). Like a deploy, a change of the live version drops
 * sandboxes kept for the old one and re-reads the function's triggers (the Deployer's onChange).
 */
import { type AliasRoute, checkRoute } from '../core/alias-split.js';
import { AgniError } from '../core/errors.js';
import { NAME_RE } from '../core/manifest.js';
import { checkAliasName } from '../core/qualifier.js';
import type { FunctionAlias, FunctionAliasRepository } from '../store/function-alias-repo.js';
import type { Store, VersionRecord } from '../store/store.js';
import type { VersionChange } from './deployer.js';

export interface Rollback {
  function: string;
  /** the version that was live */
  from: number;
  /** the version that is live now */
  to: number;
}

export class Releases {
  constructor(
    private readonly store: Store,
    private readonly aliases: FunctionAliasRepository,
    private readonly onChange: VersionChange = async () => undefined,
  ) {}

  private async versions(name: string): Promise<VersionRecord[]> {
    if (!NAME_RE.test(name)) throw new AgniError('bad_request', `not a valid function name: ${name}`);
    const all = await this.store.listVersions(name);
    if (all.length === 0 || !(await this.store.getLatestVersion(name)))
      throw new AgniError('function_not_found', `no function named ${name}`, {
        hint: 'list functions with `agni ls`',
      });
    return all;
  }

  /**
   * Makes `to` live, or else the newest version older than the live one. No new version is made:
   * later calls without a qualifier (and triggers that follow the live version) run `to`.
   */
  async rollback(name: string, to?: number): Promise<Rollback> {
    const all = await this.versions(name);
    const live = (await this.store.getLatestVersion(name))!.version;
    let target: number;
    if (to === undefined) {
      const older = all.map((v) => v.version).filter((v) => v < live);
      if (older.length === 0)
        throw new AgniError(
          'conflict',
          `${name} has no version older than the live one (${live}) to roll back to`,
          {
            hint: `choose one with \`agni rollback ${name} --to N\` (see \`agni versions ${name}\`)`,
          },
        );
      target = Math.max(...older);
    } else {
      if (!all.some((v) => v.version === to))
        throw new AgniError('version_not_found', `${name} has no version ${to}`, {
          hint: `list its versions with \`agni versions ${name}\``,
          details: { field: 'to' },
        });
      if (to === live) throw new AgniError('conflict', `version ${to} of ${name} is already live`);
      target = to;
    }
    const v = await this.store.setLiveVersion(name, target);
    if (!v) throw new AgniError('version_not_found', `${name} has no version ${target}`);
    await this.onChange(name, target);
    return { function: name, from: live, to: target };
  }

  async setAlias(name: string, alias: string, route: AliasRoute): Promise<FunctionAlias> {
    checkAliasName(alias, 'path `ALIAS`');
    const have = new Set((await this.versions(name)).map((v) => v.version));
    checkRoute(route, (v) => have.has(v), name);
    return this.aliases.set(name, alias, route);
  }

  async listAliases(name: string): Promise<FunctionAlias[]> {
    await this.versions(name);
    return this.aliases.list(name);
  }

  async removeAlias(name: string, alias: string): Promise<void> {
    await this.versions(name);
    if (!(await this.aliases.remove(name, alias)))
      throw new AgniError('alias_not_found', `${name} has no alias ${alias}`, {
        hint: `list its aliases with \`agni alias ls ${name}\``,
      });
  }
}
