/**
 * Seals secrets the server must keep but never show again (access keys' secrets): AES-256-GCM
 * with a 32-byte key in $AGNI_HOME/server.key (mode 0600, made on first use), so a copy of the
 * database alone reveals nothing. Each sealed value is bound to its own label (e.g. the access
 * key id) as additional authenticated data: it cannot be moved to another row.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgniError } from '../core/errors.js';

export const SERVER_KEY_FILE = 'server.key';
const VERSION = 'v1';

export class SecretBox {
  private key: Promise<Buffer> | undefined;

  constructor(private readonly home: string) {}

  private get path(): string {
    return join(this.home, SERVER_KEY_FILE);
  }

  private load(): Promise<Buffer> {
    this.key ??= this.readOrCreate().catch((e) => {
      this.key = undefined;
      throw e;
    });
    return this.key;
  }

  private async readOrCreate(): Promise<Buffer> {
    try {
      // 'wx': two servers (or two calls) never both make a key; the loser reads the winner's.
      await writeFile(this.path, randomBytes(32), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = await stat(this.path);
    if ((st.mode & 0o077) !== 0) {
      throw new AgniError(
        'internal',
        '$AGNI_HOME/server.key can be read by other users; refusing to use it',
        {
          hint: 'chmod 600 $AGNI_HOME/server.key',
        },
      );
    }
    const key = await readFile(this.path);
    if (key.length !== 32)
      throw new AgniError('internal', '$AGNI_HOME/server.key is damaged: expected 32 bytes', {
        hint: 'restore it from a backup; without it the stored access keys cannot be used (remove and create them again)',
      });
    return key;
  }

  async seal(plain: string, label: string): Promise<string> {
    const key = await this.load();
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(Buffer.from(label, 'utf8'));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return `${VERSION}:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
  }

  /** undefined when the value was not sealed by this key for this label */
  async open(sealed: string, label: string): Promise<string | undefined> {
    const key = await this.load();
    if (!sealed.startsWith(`${VERSION}:`)) return undefined;
    const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64');
    if (raw.length < 28) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      d.setAAD(Buffer.from(label, 'utf8'));
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
