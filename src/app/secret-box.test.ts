import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { isAgniError } from '../core/errors.js';
import { SERVER_KEY_FILE, SecretBox } from './secret-box.js';

test('a sealed secret opens only with its label and this home key; the key file is 0600', async () => {
  const home = tempDir('agni-box-');
  const box = new SecretBox(home);
  const sealed = await box.seal('wJalrXUtnFEMI/K7MDENG', 'AGNIKEY1');
  assert.ok(!sealed.includes('wJalrXUtnFEMI'));
  assert.equal(await box.open(sealed, 'AGNIKEY1'), 'wJalrXUtnFEMI/K7MDENG');
  assert.equal(await box.open(sealed, 'AGNIKEY2'), undefined, 'moved to another row');
  assert.equal(
    await new SecretBox(home).open(sealed, 'AGNIKEY1'),
    'wJalrXUtnFEMI/K7MDENG',
    'after a restart',
  );
  assert.equal(await new SecretBox(tempDir('agni-box-')).open(sealed, 'AGNIKEY1'), undefined);
  const tampered = `${sealed.slice(0, -4)}AAA=`;
  assert.equal(await box.open(tampered, 'AGNIKEY1'), undefined);
  const file = join(home, SERVER_KEY_FILE);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file).length, 32);
});

test('a server key file others can read is refused', async () => {
  const home = tempDir('agni-box-');
  await new SecretBox(home).seal('x', 'y');
  chmodSync(join(home, SERVER_KEY_FILE), 0o644);
  await assert.rejects(
    new SecretBox(home).seal('x', 'y'),
    (e) => isAgniError(e) && /chmod 600/.test(e.hint ?? ''),
  );
});
