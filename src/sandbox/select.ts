import { AgniError } from '../core/errors.js';
import type { Backend } from './backend.js';
import { ProcessBackend } from './process-backend.js';
import { RuncBackend } from './runc-backend.js';

export type BackendKind = 'auto' | 'runc' | 'process';

export async function createBackend(kind: BackendKind, home: string, egressPool?: string): Promise<Backend> {
  if (kind === 'process') return new ProcessBackend();
  const runc = new RuncBackend({ home, ...(egressPool ? { egressPool } : {}) });
  const status = await runc.available();
  if (status.ok) return runc;
  if (kind === 'auto') return new ProcessBackend();
  throw new AgniError('backend_unavailable', `the runc backend is unavailable: ${status.reason}`, {
    hint: 'run scripts/setup.sh (installs runc) and run as root, or use --backend process',
  });
}
