import pino from 'pino';
import { type Embedded, type EmbeddedOptions, startEmbedded } from '../../src/main/embedded.js';
import { testStoreFor } from './pg-store.js';
import { tempDir } from './tmp.js';

export interface TestServer extends Embedded {
  home: string;
}

/** A real embedded Agni (runc backend, SQLite store) on a free loopback port and a fresh home. */
export async function startTestServer(
  opts: {
    token?: string;
    maxPayloadBytes?: number;
    slots?: number;
    maxQueue?: number;
    allowedHosts?: string[];
    callbackAllow?: string[];
    subjectPrefix?: string;
    /** `agni up --lambda-region`: functions' AWS_REGION, ARNs, and the region signed Lambda API requests must name */
    lambdaRegion?: string;
    /** an existing home: a restart of an earlier server */
    home?: string;
    /** bench results the dashboard charts (default bench/results of this checkout) */
    benchDir?: string;
    /** `agni up --volume`: named host directories functions may mount */
    volumes?: EmbeddedOptions['volumes'];
    /** default runc */
    backend?: 'runc' | 'process';
    /** resource bounds (`agni up --async-queue`, `--max-output`, `--max-unpack`, `--max-files`, `--min-free`) */
    limits?: Pick<
      EmbeddedOptions,
      'maxAsyncQueue' | 'maxOutputBytes' | 'maxUnpackBytes' | 'maxUnpackFiles' | 'minFree'
    >;
  } = {},
): Promise<TestServer> {
  // A fresh home goes with the test process (a restart test reuses it before that).
  const home = opts.home ?? tempDir('agni-test-');
  const s = await startEmbedded({
    ...opts.limits,
    home,
    store: await testStoreFor(home),
    host: '127.0.0.1',
    port: 0,
    backend: opts.backend ?? 'runc',
    slots: opts.slots ?? 2,
    maxQueue: opts.maxQueue,
    token: opts.token,
    allowedHosts: opts.allowedHosts,
    callbackAllow: opts.callbackAllow,
    subjectPrefix: opts.subjectPrefix,
    lambdaRegion: opts.lambdaRegion,
    benchDir: opts.benchDir,
    volumes: opts.volumes,
    maxPayloadBytes: opts.maxPayloadBytes ?? 1024 * 1024,
    logger: pino({ level: 'silent' }),
  });
  return { ...s, home };
}
