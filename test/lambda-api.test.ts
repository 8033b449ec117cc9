/**
 * The Lambda Invoke API as people call it: the AWS SDK for JavaScript with an endpoint override,
 * and Debian's aws CLI, against a real server running ordinary filter functions under runc.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  GetFunctionCommand,
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
  ListFunctionsCommand,
} from '@aws-sdk/client-lambda';
import { CLI } from './helpers/agni-up.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

const run = promisify(execFile);

/** what an SDK call refused by the server throws: the exception named by x-amzn-ErrorType, with the status */
const refusedAs =
  (name: string, status: number) => (e: Error & { $metadata?: { httpStatusCode?: number } }) =>
    e.name === name && e.$metadata?.httpStatusCode === status;
const TOKEN = 'bearer-s3cret';
const AWS = existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';

interface Key {
  name: string;
  access_key_id: string;
  secret_access_key: string;
}

describe('lambda invoke api', () => {
  let s: TestServer;
  let key: Key;
  const work = tempDir('agni-lambda-');

  const v1 = (path: string, init: RequestInit = {}) =>
    fetch(`${s.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) },
    });
  const deploy = async (dir: string) => {
    const r = await v1('/v1/functions', {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(dir)),
    });
    assert.equal(r.status, 201, await r.text());
  };
  const agni = (args: string[]) =>
    run(process.execPath, [CLI, ...args], { env: { ...process.env, AGNI_URL: s.url, AGNI_TOKEN: TOKEN } });
  const lambda = (secret = key.secret_access_key, id = key.access_key_id) =>
    new LambdaClient({
      endpoint: s.url,
      region: 'us-east-1',
      credentials: { accessKeyId: id, secretAccessKey: secret },
      maxAttempts: 1,
    });
  const invoke = (
    input: Omit<ConstructorParameters<typeof InvokeCommand>[0], 'FunctionName'> & { FunctionName: string },
  ) => lambda().send(new InvokeCommand(input));
  const text = (o: InvokeCommandOutput) => Buffer.from(o.Payload ?? new Uint8Array()).toString();
  const awsCli = (args: string[], secret = key.secret_access_key) =>
    run(AWS, ['lambda', ...args, '--endpoint-url', s.url, '--output', 'json'], {
      env: {
        PATH: process.env.PATH,
        HOME: work,
        AWS_ACCESS_KEY_ID: key.access_key_id,
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_DEFAULT_REGION: 'eu-west-1',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        AWS_PAGER: '',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });

  before(async () => {
    s = await startTestServer({ token: TOKEN, maxPayloadBytes: 64 * 1024 });
    await deploy(resolve('examples/wordcount'));
    await deploy(resolve('examples/fail'));
    await deploy(
      fnDir({ 'agni.yaml': 'name: slow\nruntime: host\ncommand: "sleep 5"\nlimits:\n  timeout: 1s\n' }),
    );
    for (const v of ['one', 'two'])
      await deploy(fnDir({ 'agni.yaml': `name: greet\nruntime: host\ncommand: "echo -n ${v}"\n` }));
    const alias = await v1('/v1/functions/greet/aliases/prod', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1 }),
    });
    assert.equal(alias.status, 200, await alias.text());
    await deploy(resolve('examples/lambda-python'));
    await deploy(resolve('examples/lambda-shell'));
  });
  after(async () => {
    await s?.close();
  });

  test('without access keys the Lambda routes take the server token, and refuse a call without it', async () => {
    const url = `${s.url}/2015-03-31/functions/wordcount/invocations`;
    const refused = await fetch(url, { method: 'POST', body: 'a b' });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('x-amzn-errortype'), 'UnrecognizedClientException');
    assert.equal(((await refused.json()) as { Type: string }).Type, 'User');
    const ok = await v1('/2015-03-31/functions/wordcount/invocations', { method: 'POST', body: 'a b' });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /"words": 2/);
    assert.match(ok.headers.get('x-amzn-requestid') ?? '', /^inv-/);
  });

  test('agni token create --aws prints the secret once; ls never shows it; the store keeps it sealed', async () => {
    await assert.rejects(agni(['token', 'create', 'ci']), (e: { code?: number; stderr?: string }) => {
      assert.equal(e.code, 64);
      assert.match(e.stderr ?? '', /--aws/);
      return true;
    });
    const created = await agni(['token', 'create', 'ci', '--aws', '--json']);
    key = JSON.parse(created.stdout) as Key;
    assert.match(key.access_key_id, /^AGNI[A-Z2-7]{16}$/);
    assert.equal(key.secret_access_key.length, 40);
    const human = await agni(['token', 'create', 'spare', '--aws']);
    assert.match(human.stdout, /aws_secret_access_key {2}\S{40}/);
    await assert.rejects(agni(['token', 'create', 'ci', '--aws']), /a token named ci exists/);

    const ls = await agni(['token', 'ls', '--json']);
    assert.ok(!ls.stdout.includes(key.secret_access_key));
    assert.deepEqual(
      (JSON.parse(ls.stdout) as { name: string }[]).map((t) => t.name),
      ['ci', 'spare'],
    );
    assert.match((await agni(['token', 'ls'])).stdout, /NAME\s+KIND\s+SCOPES/);
    const db = readFileSync(join(s.home, 'agni.db'));
    assert.equal(db.indexOf(key.secret_access_key), -1, 'the secret is not in the database in clear');
    const serverKey = statSync(join(s.home, 'server.key'));
    assert.equal(serverKey.mode & 0o777, 0o600);
    assert.equal(serverKey.size, 32);
  });

  test('SDK: a synchronous call answers with the output, its version and its invocation id', async () => {
    const r = await invoke({ FunctionName: 'wordcount', Payload: Buffer.from('to be or not to be') });
    assert.equal(r.StatusCode, 200);
    assert.equal(r.FunctionError, undefined);
    assert.equal(r.ExecutedVersion, '1');
    assert.deepEqual(JSON.parse(text(r)), { lines: 0, words: 6, bytes: 18 });
    const id = r.$metadata.requestId!;
    assert.match(id, /^inv-/);
    const rec = (await (await v1(`/v1/invocations/${id}`)).json()) as { status: string; function: string };
    assert.deepEqual([rec.function, rec.status], ['wordcount', 'succeeded']);
  });

  test('SDK: a function named by ARN, NAME:$LATEST or ?Qualifier=$LATEST', async () => {
    for (const FunctionName of [
      'arn:aws:lambda:us-east-1:000000000000:function:wordcount',
      'arn:aws:lambda:eu-west-1:123456789012:function:wordcount:$LATEST',
      'wordcount:$LATEST',
    ]) {
      const r = await invoke({ FunctionName, Payload: Buffer.from('x y') });
      assert.match(text(r), /"words": 2/, FunctionName);
    }
    const q = await invoke({ FunctionName: 'wordcount', Qualifier: '$LATEST', Payload: Buffer.from('x') });
    assert.match(text(q), /"words": 1/);
  });

  test('SDK: a qualifier picks a version or an alias; X-Amz-Executed-Version says which ran', async () => {
    const cases: [Partial<{ FunctionName: string; Qualifier: string }>, string, string][] = [
      [{ FunctionName: 'greet' }, 'two', '2'],
      [{ FunctionName: 'greet', Qualifier: '$LATEST' }, 'two', '2'],
      [{ FunctionName: 'greet', Qualifier: '1' }, 'one', '1'],
      [{ FunctionName: 'greet:1' }, 'one', '1'],
      [{ FunctionName: 'greet', Qualifier: 'prod' }, 'one', '1'],
      [{ FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:greet:prod' }, 'one', '1'],
    ];
    for (const [input, out, version] of cases) {
      const r = await invoke({ FunctionName: 'greet', ...input });
      assert.deepEqual([text(r), r.ExecutedVersion], [out, version], JSON.stringify(input));
    }
    const event = await invoke({ FunctionName: 'greet', Qualifier: '1', InvocationType: 'Event' });
    const res = await v1(`/v1/invocations/${event.$metadata.requestId}/result?wait=20`);
    assert.equal(await res.text(), 'one');
    for (const Qualifier of ['7', 'staging'])
      for (const InvocationType of ['RequestResponse', 'Event', 'DryRun'] as const)
        await assert.rejects(
          invoke({ FunctionName: 'greet', Qualifier, InvocationType }),
          refusedAs('ResourceNotFoundException', 404),
          `${Qualifier} ${InvocationType}`,
        );
    const conf = await lambda().send(new GetFunctionCommand({ FunctionName: 'greet', Qualifier: 'prod' }));
    assert.equal(conf.Configuration?.Version, '1');
    assert.equal(
      conf.Configuration?.FunctionArn,
      'arn:aws:lambda:us-east-1:000000000000:function:greet:prod',
    );
  });

  test('SDK: LogType Tail returns the last 4 KB of the log, base64', async () => {
    const r = await invoke({ FunctionName: 'wordcount', LogType: 'Tail', Payload: Buffer.from('one two') });
    const log = Buffer.from(r.LogResult!, 'base64').toString();
    assert.match(log, new RegExp(`^START RequestId: ${r.$metadata.requestId} Version: 1\n`));
    assert.match(log, /wordcount: counted 2 words for inv-/);
    assert.match(log, /\nEND RequestId: inv-\S+\nREPORT RequestId: inv-\S+\tDuration: [0-9.]+ ms/);
    const none = await invoke({ FunctionName: 'wordcount', Payload: Buffer.from('one') });
    assert.equal(none.LogResult, undefined);
  });

  test('SDK: a failed function is a 200 with X-Amz-Function-Error and its error document', async () => {
    const r = await invoke({ FunctionName: 'fail', LogType: 'Tail' });
    assert.equal(r.StatusCode, 200);
    assert.equal(r.FunctionError, 'Unhandled');
    const doc = JSON.parse(text(r)) as { errorMessage: string; errorType: string; stackTrace: string[] };
    assert.equal(doc.errorType, 'Runtime.ExitError');
    assert.equal(doc.errorMessage, 'fail: something went wrong on purpose');
    assert.equal(doc.stackTrace.at(-1), 'exit code 3');
    assert.match(Buffer.from(r.LogResult!, 'base64').toString(), /something went wrong on purpose/);
    const slow = await invoke({ FunctionName: 'slow' });
    assert.equal(slow.FunctionError, 'Unhandled');
    assert.equal((JSON.parse(text(slow)) as { errorType: string }).errorType, 'Sandbox.Timedout');
  });

  test('SDK: a protocol: lambda function answers with its response, its log and its own error document', async () => {
    const r = await invoke({
      FunctionName: 'lambda-python',
      LogType: 'Tail',
      Payload: Buffer.from('{"name": "sdk"}'),
    });
    assert.equal(r.StatusCode, 200);
    assert.equal(r.FunctionError, undefined);
    const body = JSON.parse(text(r)) as { hello: string; request_id: string; function_name: string };
    assert.equal(body.hello, 'sdk');
    assert.equal(body.function_name, 'lambda-python');
    assert.equal(body.request_id, r.$metadata.requestId);
    // The handler's print (its stdout) is log, as in Lambda.
    assert.match(
      Buffer.from(r.LogResult!, 'base64').toString(),
      new RegExp(`request ${r.$metadata.requestId} call`),
    );

    const failed = await invoke({
      FunctionName: 'lambda-python',
      Payload: Buffer.from('{"fail": "no good"}'),
    });
    assert.equal(failed.StatusCode, 200);
    assert.equal(failed.FunctionError, 'Unhandled');
    const doc = JSON.parse(text(failed)) as { errorType: string; errorMessage: string };
    assert.deepEqual([doc.errorType, doc.errorMessage], ['ValueError', 'no good']);

    await assert.rejects(
      invoke({ FunctionName: 'lambda-python', Payload: Buffer.from('not json') }),
      refusedAs('InvalidRequestContentException', 400),
    );
    // A filter function takes any bytes, as its stdin.
    assert.equal(
      (await invoke({ FunctionName: 'wordcount', Payload: Buffer.from('not json') })).StatusCode,
      200,
    );
  });

  test('SDK: Event is queued durably (202) and runs; its request id is the async invocation', async () => {
    const r = await invoke({
      FunctionName: 'wordcount',
      InvocationType: 'Event',
      Payload: Buffer.from('a b c'),
    });
    assert.equal(r.StatusCode, 202);
    assert.equal(text(r), '');
    const res = await v1(`/v1/invocations/${r.$metadata.requestId}/result?wait=20`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /"words": 3/);
  });

  test('SDK: DryRun checks the function exists; missing functions are ResourceNotFoundException', async () => {
    const r = await invoke({ FunctionName: 'wordcount', InvocationType: 'DryRun' });
    assert.equal(r.StatusCode, 204);
    for (const InvocationType of ['DryRun', 'RequestResponse', 'Event'] as const) {
      await assert.rejects(
        invoke({ FunctionName: 'nope', InvocationType }),
        refusedAs('ResourceNotFoundException', 404),
        InvocationType,
      );
    }
    await assert.rejects(invoke({ FunctionName: 'wordcount', Qualifier: 'bad/one' }), {
      name: 'InvalidParameterValueException',
    });
  });

  test('SDK: a payload over the server limit is RequestTooLargeException (413)', async () => {
    await assert.rejects(
      invoke({ FunctionName: 'wordcount', Payload: Buffer.alloc(100 * 1024, 'a') }),
      refusedAs('RequestTooLargeException', 413),
    );
  });

  test('SDK: GetFunction and ListFunctions describe deployed functions', async () => {
    const f = await lambda().send(new GetFunctionCommand({ FunctionName: 'wordcount' }));
    assert.equal(f.Configuration?.FunctionName, 'wordcount');
    assert.equal(f.Configuration?.FunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:wordcount');
    assert.equal(f.Configuration?.Timeout, 10);
    assert.equal(f.Configuration?.MemorySize, 64);
    const all = await lambda().send(new ListFunctionsCommand({}));
    assert.deepEqual(all.Functions?.map((x) => x.FunctionName).sort(), [
      'fail',
      'greet',
      'lambda-python',
      'lambda-shell',
      'slow',
      'wordcount',
    ]);
    await assert.rejects(lambda().send(new GetFunctionCommand({ FunctionName: 'nope' })), {
      name: 'ResourceNotFoundException',
    });
  });

  test('with access keys: a wrong secret, an unknown or removed key, no signature or a bearer token are refused', async () => {
    const call = (c: LambdaClient) => c.send(new InvokeCommand({ FunctionName: 'wordcount' }));
    const recorded = async () =>
      (
        (await (await v1('/v1/functions/wordcount/invocations?limit=1000')).json()) as {
          invocations: unknown[];
        }
      ).invocations.length;
    const before = await recorded();
    await assert.rejects(
      call(lambda(`${key.secret_access_key.slice(1)}x`)),
      refusedAs('InvalidSignatureException', 403),
    );
    await assert.rejects(call(lambda(key.secret_access_key, 'AGNIAAAAAAAAAAAAAAAA')), {
      name: 'UnrecognizedClientException',
    });
    const spare = (JSON.parse((await agni(['token', 'ls', '--json'])).stdout) as Key[]).find(
      (k) => k.name === 'spare',
    )!;
    // A failed signature is not a use: only a verified one sets LAST USED.
    await assert.rejects(call(lambda('wrong', spare.access_key_id)), { name: 'InvalidSignatureException' });
    const keys = JSON.parse((await agni(['token', 'ls', '--json'])).stdout) as (Key & {
      last_used_at: number | null;
    })[];
    assert.equal(keys.find((k) => k.name === 'spare')?.last_used_at, null);
    assert.equal(typeof keys.find((k) => k.name === 'ci')?.last_used_at, 'number');
    await agni(['token', 'rm', 'spare']);
    await assert.rejects(call(lambda('anything', spare.access_key_id)), {
      name: 'UnrecognizedClientException',
    });
    // The bearer token no longer opens these routes; it still opens /v1.
    const url = '/2015-03-31/functions/wordcount/invocations';
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }] as Record<string, string>[]) {
      const r = await fetch(`${s.url}${url}`, { method: 'POST', headers, body: 'x' });
      assert.equal(r.status, 403);
      assert.equal(r.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
    }
    assert.equal((await v1('/v1/functions')).status, 200);
    // Refused before its body is read: an oversized unsigned body is a 403, not a 413.
    const big = await fetch(`${s.url}${url}`, { method: 'POST', body: new Uint8Array(100 * 1024) });
    assert.equal(big.status, 403);
    assert.equal(big.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
    // Refused before anything ran: no invocation was recorded for these.
    assert.equal(await recorded(), before);
  });

  test('a signed request from a web page (foreign Origin) is refused by the browser guard', async () => {
    const r = await fetch(`${s.url}/2015-03-31/functions/wordcount/invocations`, {
      method: 'POST',
      headers: { origin: 'http://evil.example' },
      body: 'x',
    });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('x-amzn-errortype'), 'AccessDeniedException');
  });

  test('aws CLI: sync, tail logs, a qualifier, a function error, an Event, and a wrong secret', async () => {
    const payload = join(work, 'payload');
    writeFileSync(payload, 'the quick brown fox');
    const out = join(work, 'out.json');
    const sync = await awsCli([
      'invoke',
      '--function-name',
      'wordcount',
      '--payload',
      `fileb://${payload}`,
      '--log-type',
      'Tail',
      out,
    ]);
    const meta = JSON.parse(sync.stdout) as {
      StatusCode: number;
      ExecutedVersion: string;
      LogResult: string;
    };
    assert.equal(meta.StatusCode, 200);
    assert.equal(meta.ExecutedVersion, '1');
    assert.match(Buffer.from(meta.LogResult, 'base64').toString(), /counted 4 words/);
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), { lines: 0, words: 4, bytes: 19 });

    const pinned = await awsCli(['invoke', '--function-name', 'greet', '--qualifier', 'prod', out]);
    assert.equal((JSON.parse(pinned.stdout) as { ExecutedVersion: string }).ExecutedVersion, '1');
    assert.equal(readFileSync(out, 'utf8'), 'one');

    const failed = await awsCli(['invoke', '--function-name', 'fail', out]);
    assert.equal((JSON.parse(failed.stdout) as { FunctionError: string }).FunctionError, 'Unhandled');
    assert.match(readFileSync(out, 'utf8'), /"errorMessage":"fail: something went wrong on purpose"/);

    const event = await awsCli([
      'invoke',
      '--function-name',
      'wordcount',
      '--invocation-type',
      'Event',
      '--payload',
      `fileb://${payload}`,
      out,
    ]);
    assert.equal((JSON.parse(event.stdout) as { StatusCode: number }).StatusCode, 202);

    // The AWS custom-runtime tutorial's shell bootstrap, called as on AWS.
    writeFileSync(payload, '{"text": "Hello from the aws CLI"}');
    const tutorial = await awsCli([
      'invoke',
      '--function-name',
      'lambda-shell',
      '--payload',
      `fileb://${payload}`,
      '--log-type',
      'Tail',
      out,
    ]);
    assert.equal((JSON.parse(tutorial.stdout) as { StatusCode: number }).StatusCode, 200);
    assert.equal(readFileSync(out, 'utf8').trim(), `Echoing request: '{"text": "Hello from the aws CLI"}'`);

    await assert.rejects(
      awsCli(['invoke', '--function-name', 'wordcount', out], 'wrong-secret'),
      (e: { stderr: string }) => /InvalidSignatureException/.test(e.stderr),
    );
  });
});

describe('lambda invoke api, async queue full, --lambda-region', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ limits: { maxAsyncQueue: 0 }, lambdaRegion: 'eu-west-1' });
    const r = await fetch(`${s.url}/v1/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(resolve('examples/wordcount'))),
    });
    assert.equal(r.status, 201);
  });
  after(async () => {
    await s?.close();
  });

  test('an Event finding the async queue full is TooManyRequestsException with Retry-After', async () => {
    const r = await fetch(`${s.url}/2015-03-31/functions/wordcount/invocations`, {
      method: 'POST',
      headers: { 'x-amz-invocation-type': 'Event' },
      body: 'a b',
    });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('x-amzn-errortype'), 'TooManyRequestsException');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    // A synchronous call does not use the async queue.
    const sync = await fetch(`${s.url}/2015-03-31/functions/wordcount/invocations`, {
      method: 'POST',
      body: 'a b',
    });
    assert.equal(sync.status, 200);
  });

  test('with --lambda-region, ARNs name it and a signature scoped to another region is refused', async () => {
    const r = await fetch(`${s.url}/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'k', kind: 'aws' }),
    });
    const k = (await r.json()) as Key;
    const client = (region: string) =>
      new LambdaClient({
        endpoint: s.url,
        region,
        credentials: { accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key },
        maxAttempts: 1,
      });
    const call = (region: string) => client(region).send(new InvokeCommand({ FunctionName: 'wordcount' }));
    assert.equal((await call('eu-west-1')).StatusCode, 200);
    const f = await client('eu-west-1').send(new GetFunctionCommand({ FunctionName: 'wordcount' }));
    assert.equal(f.Configuration?.FunctionArn, 'arn:aws:lambda:eu-west-1:000000000000:function:wordcount');
    await assert.rejects(call('us-east-1'), (e: Error) => {
      assert.equal(e.name, 'InvalidSignatureException');
      assert.match(e.message, /eu-west-1/);
      return true;
    });
  });
});
