/**
 * Access keys for AWS-signed requests (the Lambda Invoke API): `agni token create NAME --aws`.
 * The secret is shown once, at creation; after that it exists only sealed in the store and, for
 * the moment a signature is checked, in this process's memory.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { AgniError } from '../core/errors.js';
import type { AccessKeyRepository, AccessKeyRow } from '../store/access-key-repo.js';
import type { SecretBox } from './secret-box.js';

export const TOKEN_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export interface AccessKeyInfo {
  name: string;
  kind: 'aws';
  access_key_id: string;
  created_at: number;
  last_used_at: number | null;
}

export interface CreatedAccessKey extends AccessKeyInfo {
  secret_access_key: string;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** like AWS's 20-character ids, with a prefix that says whose they are */
function newAccessKeyId(): string {
  let s = 'AGNI';
  for (let i = 0; i < 16; i++) s += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return s;
}

function info(r: AccessKeyRow): AccessKeyInfo {
  return {
    name: r.name,
    kind: 'aws',
    access_key_id: r.accessKeyId,
    created_at: r.createdAt,
    last_used_at: r.lastUsedAt,
  };
}

/** `last_used_at` is written at most this often per key: a busy key costs no write per call */
const TOUCH_EVERY_MS = 60_000;

export class AccessKeys {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly repo: AccessKeyRepository,
    private readonly box: SecretBox,
    private readonly now: () => number = Date.now,
  ) {}

  async create(name: string): Promise<CreatedAccessKey> {
    if (!TOKEN_NAME_RE.test(name))
      throw new AgniError(
        'bad_request',
        `name: ${JSON.stringify(name)}: expected lowercase letters, digits, _ . and -, starting with a letter or digit, at most 63`,
        {
          hint: 'e.g. agni token create ci --aws',
          details: { field: 'name' },
        },
      );
    const accessKeyId = newAccessKeyId();
    const secret = randomBytes(30).toString('base64');
    const createdAt = this.now();
    const inserted = await this.repo.insert({
      name,
      accessKeyId,
      secretSealed: await this.box.seal(secret, accessKeyId),
      createdAt,
    });
    if (!inserted)
      throw new AgniError('conflict', `an access key named ${name} exists`, {
        hint: `remove it first with \`agni token rm ${name}\`, or choose another name`,
        details: { field: 'name' },
      });
    return {
      name,
      kind: 'aws',
      access_key_id: accessKeyId,
      secret_access_key: secret,
      created_at: createdAt,
      last_used_at: null,
    };
  }

  async list(): Promise<AccessKeyInfo[]> {
    return (await this.repo.list()).map(info);
  }

  async remove(name: string): Promise<void> {
    if (!(await this.repo.remove(name)))
      throw new AgniError('not_found', `no access key named ${name}`, {
        hint: 'list them with `agni token ls`',
      });
  }

  /** while none exist, the Lambda API takes the server's ordinary auth instead of signatures */
  any(): Promise<boolean> {
    return this.repo.any();
  }

  /** the secret of an access key, to check a signature with; undefined for an unknown id */
  async secretOf(accessKeyId: string): Promise<string | undefined> {
    const row = await this.repo.byAccessKeyId(accessKeyId);
    if (!row) return undefined;
    const secret = await this.box.open(row.secretSealed, row.accessKeyId);
    if (secret === undefined)
      throw new AgniError('internal', `access key ${row.name} cannot be unsealed with this server's key`, {
        hint: 'was $AGNI_HOME/server.key replaced? remove the key and create it again',
      });
    return secret;
  }

  /** notes a request whose signature with this key verified (for `agni token ls`'s LAST USED) */
  async used(accessKeyId: string): Promise<void> {
    const now = this.now();
    if (now - (this.touched.get(accessKeyId) ?? 0) < TOUCH_EVERY_MS) return;
    this.touched.set(accessKeyId, now);
    await this.repo.touch(accessKeyId, now);
  }
}
