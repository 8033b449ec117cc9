/**
 * The embedded Agni servers of one bench run (`agni bench cold`, `agni bench sweep`): one per
 * backend in the run's scratch dir, started on first use with the function's image uploaded, and
 * closed together.
 */
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { create } from 'tar';
import { AgniError } from '../core/errors.js';
import type { VolumeDecl } from '../core/volumes.js';
import { type Embedded, startEmbedded } from '../main/embedded.js';

/** POSTs `dir` as a gzipped tar to `path` of `server` (a function, or an image's rootfs) */
export async function upload(server: Embedded, path: string, dir: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of Readable.from(create({ cwd: dir, gzip: true, portable: false }, ['.'])))
    chunks.push(c as Buffer);
  const r = await fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(Buffer.concat(chunks)),
  });
  if (r.status !== 201) throw new AgniError('bad_request', `bench setup: ${path}: ${await r.text()}`);
}

export type BenchBackend = 'runc' | 'process';

export class BenchServers {
  private readonly servers = new Map<BenchBackend, Embedded>();

  constructor(
    private readonly o: {
      scratch: string;
      slots: number;
      maxPayloadBytes: number;
      volumes?: VolumeDecl[];
      /** a local image the function runs on: its name and rootfs dir, uploaded to each server */
      image?: { name: string; rootfs: string };
    },
  ) {}

  async get(backend: BenchBackend): Promise<Embedded> {
    let s = this.servers.get(backend);
    if (!s) {
      s = await startEmbedded({
        home: join(this.o.scratch, `home-${backend}`),
        host: '127.0.0.1',
        port: 0,
        backend,
        slots: this.o.slots,
        maxPayloadBytes: this.o.maxPayloadBytes,
        ...(this.o.volumes ? { volumes: this.o.volumes } : {}),
        logger: pino({ level: 'silent' }),
      });
      this.servers.set(backend, s);
      if (this.o.image) await upload(s, `/v1/images/${this.o.image.name}`, this.o.image.rootfs);
    }
    return s;
  }

  /** closes every server; `quiet` swallows close errors (a cleanup after another error) */
  async close(quiet = false): Promise<void> {
    for (const s of this.servers.values()) {
      if (quiet) await s.close().catch(() => undefined);
      else await s.close();
    }
    this.servers.clear();
  }
}
