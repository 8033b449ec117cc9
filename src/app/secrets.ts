/**
 * Secrets for functions (`agni secret set/ls/rm`). Values are sealed with the server key
 * ($AGNI_HOME/server.key, src/app/secret-box.ts), which is not in the database: a copy of the
 * database alone reveals nothing. A value leaves this class in clear only towards a sandbox
 * (`values`, for the agent, in-process); every answer about secrets carries names, sizes and times.
 */
import type { Logger } from 'pino';
import { AgniError } from '../core/errors.js';
import type { Manifest } from '../core/manifest.js';
import { MAX_SECRET_BYTES, SECRET_NAME_RE, SECRET_NAME_RULE, type SecretRef } from '../core/secret-refs.js';
import type { SandboxSecret } from '../sandbox/backend.js';
import type { SecretRepository, SecretRow } from '../store/secret-repo.js';
import type { Store } from '../store/store.js';
import type { SecretBox } from './secret-box.js';

export interface SecretInfo {
  name: string;
  size: number;
  created_at: number;
  updated_at: number;
  /** functions whose live version names it */
  used_by: string[];
}

/** told after a secret's value changed: sandboxes kept with the old value should go */
export type SecretChanged = (name: string, usedBy: string[]) => Promise<void>;

const label = (name: string) => `secret:${name}`;

export function assertSecretName(name: string, field = 'name'): void {
  if (!SECRET_NAME_RE.test(name))
    throw new AgniError('bad_request', `${field}: ${JSON.stringify(name)}: expected ${SECRET_NAME_RULE}`, {
      hint: 'e.g. agni secret set db_password < password.txt',
      details: { field },
    });
}

export class Secrets {
  constructor(
    private readonly repo: SecretRepository,
    private readonly box: SecretBox,
    private readonly store: Pick<Store, 'listFunctions'>,
    private readonly onChange: SecretChanged = async () => undefined,
    private readonly logger?: Pick<Logger, 'info' | 'debug'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** the functions whose live version names `name`, by name */
  async usedBy(name: string): Promise<string[]> {
    // A function record carries its live version's manifest.
    return (await this.store.listFunctions())
      .filter((f) => f.manifest.secrets?.some((s) => s.name === name))
      .map((f) => f.function);
  }

  async set(name: string, value: Buffer): Promise<{ secret: SecretInfo; created: boolean }> {
    assertSecretName(name);
    if (value.length === 0)
      throw new AgniError('bad_request', 'value: empty; a secret needs at least one byte', {
        details: { field: 'value' },
      });
    if (value.length > MAX_SECRET_BYTES)
      throw new AgniError(
        'payload_too_large',
        `value: ${value.length} bytes; a secret is at most ${MAX_SECRET_BYTES}`,
        {
          details: { field: 'value' },
        },
      );
    const sealed = await this.box.seal(value.toString('base64'), label(name));
    const created = await this.repo.put({ name, valueSealed: sealed, size: value.length }, this.now());
    const usedBy = await this.usedBy(name);
    // Names and sizes only: a value is never logged.
    this.logger?.info(
      { secret: name, size: value.length, used_by: usedBy },
      created ? 'secret created' : 'secret replaced',
    );
    if (!created) await this.onChange(name, usedBy);
    return { secret: this.info((await this.repo.get(name))!, usedBy), created };
  }

  async list(): Promise<SecretInfo[]> {
    const rows = await this.repo.list();
    return Promise.all(rows.map(async (r) => this.info(r, await this.usedBy(r.name))));
  }

  /** Refused while a function's live version names it: its next sandbox could not start. */
  async remove(name: string): Promise<void> {
    assertSecretName(name);
    const usedBy = await this.usedBy(name);
    if (usedBy.length > 0)
      throw new AgniError('conflict', `secret ${name} is used by ${usedBy.join(', ')}`, {
        hint: 'deploy those functions without it (or remove them) first',
        details: { used_by: usedBy },
      });
    if (!(await this.repo.remove(name)))
      throw new AgniError('not_found', `no secret named ${name}`, {
        hint: 'list them with `agni secret ls`',
      });
  }

  /** A deploy check: every secret the manifest names exists (the error names the missing ones). */
  async checkRefs(m: Manifest): Promise<void> {
    const missing: string[] = [];
    for (const ref of m.secrets ?? []) if (!(await this.repo.get(ref.name))) missing.push(ref.name);
    if (missing.length > 0)
      throw new AgniError(
        'manifest_invalid',
        `agni.yaml: field \`secrets\`: no secret named ${missing.join(', ')}`,
        {
          hint: `set it first: agni secret set ${missing[0]} < FILE`,
          details: { file: 'agni.yaml', field: 'secrets', missing },
        },
      );
  }

  /** The values `refs` name, for a sandbox of `what` (e.g. `fn v3`): in clear, in this process only. */
  async values(refs: readonly SecretRef[], what: string): Promise<SandboxSecret[]> {
    const out: SandboxSecret[] = [];
    this.logger?.debug({ secrets: refs.map((r) => r.name), for: what }, 'secrets: unsealing for a sandbox');
    for (const ref of refs) {
      const row = await this.repo.get(ref.name);
      if (!row)
        throw new AgniError('manifest_invalid', `${what} needs secret ${ref.name}, which no longer exists`, {
          hint: `set it again with \`agni secret set ${ref.name}\`, or deploy a version without it`,
        });
      const b64 = await this.box.open(row.valueSealed, label(ref.name));
      if (b64 === undefined)
        throw new AgniError('internal', `secret ${ref.name} cannot be unsealed with this server's key`, {
          hint: 'was $AGNI_HOME/server.key replaced? set the secret again',
        });
      out.push({ name: ref.name, value: Buffer.from(b64, 'base64'), ...(ref.env ? { env: ref.env } : {}) });
    }
    return out;
  }

  private info(r: SecretRow, usedBy: string[]): SecretInfo {
    return { name: r.name, size: r.size, created_at: r.createdAt, updated_at: r.updatedAt, used_by: usedBy };
  }
}
