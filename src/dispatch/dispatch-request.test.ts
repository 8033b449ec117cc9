/** A DispatchRequest is plain data: it crosses JSON unchanged, and its type has no functions. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { parseManifest } from '../core/manifest.js';
import { requestContext } from '../core/request-context.js';
import type { VersionRecord } from '../store/store.js';
import { type DispatchRequest, dispatchRequest, type LocalChannel } from './dispatch-request.js';

/** true when T is made only of what JSON carries as it is: no functions, class instances or bigint. */
type JsonSafe<T> = T extends string | number | boolean | null | undefined
  ? true
  : T extends readonly (infer E)[]
    ? JsonSafe<E>
    : T extends (...args: never[]) => unknown
      ? false
      : T extends object
        ? false extends { [K in keyof T]-?: JsonSafe<T[K]> }[keyof T]
          ? false
          : true
        : false;
type Is<T extends true> = T;

// Type-level checks, made by `tsc`: a function, a stream or a signal in a request fails the build.
export type RequestIsJsonSafe = Is<JsonSafe<DispatchRequest>>;
// @ts-expect-error the channel holds streams, callbacks and a signal: the check sees them.
export type ChannelIsNot = Is<JsonSafe<LocalChannel>>;

const manifest = parseManifest(
  [
    'name: stats',
    'runtime: host',
    'command: ["python3", "main.py"]',
    'lifecycle: warm',
    'concurrency: 3',
    'env: { MODE: fast }',
    'limits: { memory: 64Mi, timeout: 5s }',
    '',
  ].join('\n'),
);
const version: VersionRecord = {
  function: 'stats',
  version: 7,
  manifest,
  codeDir: '/var/lib/agni/functions/stats/7',
  imageId: 'host',
  createdAt: 1_764_000_000_000,
};
const http = requestContext({
  method: 'POST',
  url: '/hooks/stats?x=1&y=%20',
  rawHeaders: ['Content-Type', 'application/json', 'X-Trace', 'a', 'x-trace', 'b'],
});

const roundTrip = (r: DispatchRequest): unknown => JSON.parse(JSON.stringify(r));

test('a request with every field crosses JSON unchanged', () => {
  const r = dispatchRequest({
    invocationId: 'inv-1',
    version,
    payload: Buffer.from('{"n":3}'),
    http,
    timeoutMs: 2500,
    lambda: { clientContext: '{"custom":{"a":1}}', cognitoIdentity: '{"id":"x"}' },
  });
  assert.deepEqual(r.payload, { kind: 'buffer', bytes: 7 });
  assert.deepEqual(roundTrip(r), r);
});

test('a request with only what is required crosses JSON unchanged, with no undefined fields', () => {
  const r = dispatchRequest({
    invocationId: 'inv-2',
    version,
    payload: new PassThrough(),
    http: undefined,
    timeoutMs: null,
    lambda: undefined,
  });
  assert.deepEqual(r, { invocationId: 'inv-2', version, payload: { kind: 'stream' } });
  assert.deepEqual(roundTrip(r), r);
});
