// The Data Plane API client's requests, against a plain node:http server started here that answers
// from a script and records every request. This is the one place in the project where a real part does
// not exist: the Data Plane API cannot be obtained on the machines that run these tests (README, "The
// HAProxy Data Plane API"), so what is checked is what the syncer sends — methods, paths of v2 and v3,
// bodies, the transaction, the credentials — and how it reads the answers the API's specification
// describes. Whether a live API accepts them is not tested.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { DataplaneClient, readCredentialsFile } from './dataplaneapi-client.ts';
import { ApiError, ConfigError } from '../common/errors.ts';

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}
type Answer = { status: number; body?: unknown };
/** The script: `METHOD /path?query` → answer; an answer list is used in turn (the last one repeats). */
type Script = Record<string, Answer | Answer[]>;

const dir = mkdtempSync(join(tmpdir(), 'hps-dpapi-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const silent = { info: () => undefined, warn: () => undefined };

async function startApi(script: Script): Promise<{ url: URL; requests: Recorded[]; close: () => Promise<void> }> {
  const requests: Recorded[] = [];
  const used = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      const key = `${req.method} ${req.url}`;
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body: text === '' ? undefined : JSON.parse(text),
      });
      const entry = script[key];
      const list =
        entry === undefined
          ? [{ status: 404, body: { code: 404, message: `no route ${key}` } }]
          : Array.isArray(entry)
            ? entry
            : [entry];
      const n = used.get(key) ?? 0;
      used.set(key, n + 1);
      const answer = list[Math.min(n, list.length - 1)] ?? { status: 500 };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function clientFor(url: URL, password = 'pw-from-file'): Promise<DataplaneClient> {
  const file = join(dir, `password-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return new DataplaneClient({
    baseUrl: url,
    username: 'admin',
    password: await readCredentialsFile(file),
    log: silent,
  });
}

const desired = [
  { name: 'web-a', host: '10.0.0.1', port: 10000 },
  { name: 'web-b', host: '10.0.0.22', port: 10000 },
  { name: 'web-d', host: '10.0.0.4', port: 10000 },
];
const C = '/services/haproxy/configuration';

test('v3: one transaction adds, replaces and deletes, is committed with a forced reload, with the password from the file', async () => {
  const api = await startApi({
    'GET /v3/info': { status: 200, body: { api: { version: 'v3.0.5' } } },
    [`GET /v3${C}/version`]: { status: 200, body: 7 },
    [`GET /v3${C}/peer_section/haproxy-peers`]: { status: 200, body: { name: 'haproxy-peers' } },
    [`GET /v3${C}/peer_entries?peer_section=haproxy-peers`]: {
      status: 200,
      body: [
        { name: 'web-a', address: '10.0.0.1', port: 10000 },
        { name: 'web-b', address: '10.0.0.2', port: 10000 },
        { name: 'web-c', address: '10.0.0.3', port: 10000 },
      ],
    },
    'POST /v3/services/haproxy/transactions?version=7': {
      status: 201,
      body: { id: 'tx-1', _version: 7, status: 'in_progress' },
    },
    [`POST /v3${C}/peer_entries?peer_section=haproxy-peers&transaction_id=tx-1`]: { status: 201, body: {} },
    [`PUT /v3${C}/peer_entries/web-b?peer_section=haproxy-peers&transaction_id=tx-1`]: { status: 200, body: {} },
    [`DELETE /v3${C}/peer_entries/web-c?peer_section=haproxy-peers&transaction_id=tx-1`]: { status: 204 },
    'PUT /v3/services/haproxy/transactions/tx-1?force_reload=true': {
      status: 200,
      body: { id: 'tx-1', status: 'success' },
    },
  });
  after(api.close);
  const client = await clientFor(api.url);
  let hookCalls = 0;
  const result = await client.applyPeers('haproxy-peers', desired, 'web-a', async () => {
    hookCalls++;
  });
  assert.deepEqual(
    api.requests.map((r) => `${r.method} ${r.url}`),
    [
      'GET /v3/info',
      `GET /v3${C}/version`,
      `GET /v3${C}/peer_section/haproxy-peers`,
      `GET /v3${C}/peer_entries?peer_section=haproxy-peers`,
      'POST /v3/services/haproxy/transactions?version=7',
      `POST /v3${C}/peer_entries?peer_section=haproxy-peers&transaction_id=tx-1`,
      `PUT /v3${C}/peer_entries/web-b?peer_section=haproxy-peers&transaction_id=tx-1`,
      `DELETE /v3${C}/peer_entries/web-c?peer_section=haproxy-peers&transaction_id=tx-1`,
      'PUT /v3/services/haproxy/transactions/tx-1?force_reload=true',
    ],
  );
  assert.deepEqual(api.requests[5]?.body, { name: 'web-d', address: '10.0.0.4', port: 10000 });
  assert.deepEqual(api.requests[6]?.body, { name: 'web-b', address: '10.0.0.22', port: 10000 });
  const basic = `Basic ${Buffer.from('admin:pw-from-file').toString('base64')}`;
  assert.ok(
    api.requests.every((r) => r.authorization === basic),
    'every request logs in with the password of the file, line end trimmed',
  );
  assert.equal(hookCalls, 1, 'the worker about to be replaced is read once, before the transaction');
  assert.deepEqual(result, {
    committed: true,
    before: [
      { name: 'web-a', host: '10.0.0.1', port: 10000 },
      { name: 'web-b', host: '10.0.0.2', port: 10000 },
      { name: 'web-c', host: '10.0.0.3', port: 10000 },
    ],
  });

  // The version is found once; a second pass with nothing to change opens no transaction.
  api.requests.length = 0;
  const unchanged = await client.applyPeers(
    'haproxy-peers',
    [
      { name: 'web-a', host: '10.0.0.1', port: 10000 },
      { name: 'web-b', host: '10.0.0.2', port: 10000 },
      { name: 'web-c', host: '10.0.0.3', port: 10000 },
    ],
    'web-a',
    () => {
      throw new Error('no change: no hook');
    },
  );
  assert.equal(unchanged.committed, false);
  assert.ok(
    !api.requests.some((r) => r.url.includes('/info') || r.method !== 'GET'),
    api.requests.map((r) => r.url).join(', '),
  );
});

test('v2: found after /v3/info answers 404; a missing section is created in the transaction; lists come as { _version, data }', async () => {
  const api = await startApi({
    'GET /v2/info': { status: 200, body: { api: { version: 'v2.9.27' } } },
    [`GET /v2${C}/version`]: { status: 200, body: 1 },
    [`GET /v2${C}/peer_section/sessions`]: { status: 404, body: { code: 404, message: 'not found' } },
    'POST /v2/services/haproxy/transactions?version=1': { status: 201, body: { id: 'a1', _version: 1 } },
    [`POST /v2${C}/peer_section?transaction_id=a1`]: { status: 201, body: { name: 'sessions' } },
    [`POST /v2${C}/peer_entries?peer_section=sessions&transaction_id=a1`]: { status: 201, body: {} },
    'PUT /v2/services/haproxy/transactions/a1?force_reload=true': { status: 202, body: { id: 'a1' } },
  });
  after(api.close);
  const client = await clientFor(api.url);
  const result = await client.applyPeers('sessions', desired.slice(0, 2), 'web-a');
  assert.equal(await client.version(), 'v2');
  assert.deepEqual(
    api.requests.map((r) => `${r.method} ${r.url}`),
    [
      'GET /v3/info',
      'GET /v2/info',
      `GET /v2${C}/version`,
      `GET /v2${C}/peer_section/sessions`,
      'POST /v2/services/haproxy/transactions?version=1',
      `POST /v2${C}/peer_section?transaction_id=a1`,
      `POST /v2${C}/peer_entries?peer_section=sessions&transaction_id=a1`,
      `POST /v2${C}/peer_entries?peer_section=sessions&transaction_id=a1`,
      'PUT /v2/services/haproxy/transactions/a1?force_reload=true',
    ],
  );
  assert.deepEqual(api.requests[5]?.body, { name: 'sessions' });
  assert.deepEqual(result, { committed: true, before: [] });

  // An existing v2 section: its entries are read from { _version, data }.
  const existing = await startApi({
    'GET /v2/info': { status: 200, body: {} },
    [`GET /v2${C}/version`]: { status: 200, body: 4 },
    [`GET /v2${C}/peer_section/sessions`]: { status: 200, body: { _version: 4, data: { name: 'sessions' } } },
    [`GET /v2${C}/peer_entries?peer_section=sessions`]: {
      status: 200,
      body: { _version: 4, data: [{ name: 'web-a', address: '10.0.0.1', port: 10000 }] },
    },
  });
  after(existing.close);
  const unchanged = await (await clientFor(existing.url)).applyPeers('sessions', desired.slice(0, 1), 'web-a');
  assert.deepEqual(unchanged, { committed: false, before: [{ name: 'web-a', host: '10.0.0.1', port: 10000 }] });
});

test('a version conflict re-reads the version and plans again; a failed commit deletes the transaction and is retryable', async () => {
  const api = await startApi({
    'GET /v3/info': { status: 200, body: {} },
    [`GET /v3${C}/version`]: [
      { status: 200, body: 3 },
      { status: 200, body: 4 },
    ],
    [`GET /v3${C}/peer_section/s`]: { status: 200, body: {} },
    [`GET /v3${C}/peer_entries?peer_section=s`]: { status: 200, body: [] },
    'POST /v3/services/haproxy/transactions?version=3': {
      status: 409,
      body: { code: 409, message: 'version mismatch' },
    },
    'POST /v3/services/haproxy/transactions?version=4': { status: 201, body: { id: 't4' } },
    [`POST /v3${C}/peer_entries?peer_section=s&transaction_id=t4`]: { status: 201, body: {} },
    'PUT /v3/services/haproxy/transactions/t4?force_reload=true': {
      status: 500,
      body: { code: 500, message: 'reload failed' },
    },
    'DELETE /v3/services/haproxy/transactions/t4': { status: 204 },
  });
  after(api.close);
  const client = await clientFor(api.url);
  await assert.rejects(client.applyPeers('s', desired.slice(0, 2), 'web-a'), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.deepEqual([err.code, err.status, err.retryable], ['HPS_DPAPI', 500, true]);
    assert.match(err.message, /committing the transaction: PUT .* answered 500 \(reload failed\)/);
    return true;
  });
  const calls = api.requests.map((r) => `${r.method} ${r.url}`);
  assert.equal(
    calls.filter((c) => c === `GET /v3${C}/version`).length,
    2,
    'the version was read again after the conflict',
  );
  assert.equal(calls.at(-1), 'DELETE /v3/services/haproxy/transactions/t4', 'the failed transaction is deleted');
});

test('wrong credentials and an API that is not listening are errors the syncer retries, with codes of their own', async () => {
  const api = await startApi({ 'GET /v3/info': { status: 401, body: { code: 401, message: 'unauthorized' } } });
  after(api.close);
  await assert.rejects(
    (await clientFor(api.url, 'old-password')).version(),
    (err: unknown) =>
      err instanceof ApiError &&
      err.code === 'HPS_DPAPI' &&
      err.status === 401 &&
      err.retryable &&
      /check the credentials file/.test(err.message),
  );

  const closed = await startApi({});
  await closed.close(); // nothing listens on that port any more
  await assert.rejects(
    (await clientFor(closed.url)).version(),
    (err: unknown) => err instanceof ApiError && err.code === 'HPS_DPAPI_DOWN' && err.retryable,
  );
});

test('the credentials file must exist and hold a password', async () => {
  await assert.rejects(
    readCredentialsFile(join(dir, 'absent')),
    (err: unknown) => err instanceof ConfigError && /cannot read .*absent/.test(err.message),
  );
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n');
  await assert.rejects(
    readCredentialsFile(empty),
    (err: unknown) => err instanceof ConfigError && /is empty/.test(err.message),
  );
});
