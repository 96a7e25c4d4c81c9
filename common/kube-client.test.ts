// Which credentials defaultAccess picks (client-node's loadFromDefault order), from files only.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createServer } from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  CaFileAgent,
  collectPages,
  defaultAccess,
  getJson,
  kubeconfigAccess,
  lazyAccess,
  pagePath,
  type ListPage,
} from './kube-client.ts';
import { generateCa, generateServingCert } from '../certs/generate.ts';

const dir = mkdtempSync(join(tmpdir(), 'hps-kube-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const kubeconfig = (server: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'ctx',
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'ns1' } }],
    clusters: [{ name: 'c', cluster: { server } }],
    users: [{ name: 'u', user: { tokenFile: 'token' } }],
    ...extra,
  });

test('KUBECONFIG: the first file that names the current context wins; relative paths are relative to their file', async () => {
  mkdirSync(join(dir, 'a'));
  mkdirSync(join(dir, 'b'));
  // a: only a current-context; b: the context, cluster and user, with a token file beside it.
  writeFileSync(
    join(dir, 'a', 'config'),
    JSON.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'ctx' }),
  );
  writeFileSync(join(dir, 'b', 'config'), kubeconfig('http://127.0.0.1:6443', { 'current-context': 'other' }));
  writeFileSync(join(dir, 'b', 'token'), 'tok-b\n');
  const access = await defaultAccess(
    { KUBECONFIG: [join(dir, 'a', 'config'), join(dir, 'b', 'config')].join(delimiter) },
    dir,
  );
  assert.equal(access.server.href, 'http://127.0.0.1:6443/');
  assert.equal(access.token?.(), 'tok-b');
  assert.equal(access.namespace, 'ns1');
  assert.equal(access.agent, undefined, 'plain http needs no TLS agent');
});

test('without KUBECONFIG: ~/.kube/config, else (outside a pod) http://localhost:8080 as client-node does', async () => {
  const home = join(dir, 'home');
  mkdirSync(join(home, '.kube'), { recursive: true });
  writeFileSync(join(home, '.kube', 'config'), kubeconfig('https://10.0.0.1:443'));
  writeFileSync(join(home, '.kube', 'token'), 'tok-home');
  const fromHome = await defaultAccess({}, home);
  assert.equal(fromHome.server.href, 'https://10.0.0.1/');
  assert.equal(fromHome.token?.(), 'tok-home');
  assert.ok(fromHome.agent !== undefined);
  fromHome.agent.destroy();
  if (!existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) {
    const none = await defaultAccess({}, join(dir, 'nowhere'));
    assert.equal(none.server.href, 'http://localhost:8080/');
  }
});

test('a kubeconfig without a current context names what is missing', async () => {
  writeFileSync(join(dir, 'empty'), '');
  await assert.rejects(kubeconfigAccess(join(dir, 'empty')), /--kubeconfig .*empty: no current context with a cluster/);
});

test('lazyAccess: a KubeAccess as it is; a KubeConfig read once for its agent and bearer token', async () => {
  const plain = { server: new URL('http://127.0.0.1:1'), agent: undefined, token: undefined, namespace: undefined };
  assert.equal(await lazyAccess(plain)(), plain);
  let applied = 0;
  const kc = {
    getCurrentCluster: () => ({ server: 'https://127.0.0.1:6443' }),
    applyToHTTPSOptions: async (opts: { headers?: Record<string, string> }) => {
      applied++;
      opts.headers = { Authorization: 'Bearer abc' };
    },
  };
  const get = lazyAccess(kc);
  const [a, b] = await Promise.all([get(), get()]);
  assert.equal(a, b);
  assert.equal(applied, 1);
  assert.equal(a?.server.href, 'https://127.0.0.1:6443/');
  assert.equal(a?.token?.(), 'abc');
});

test('a list is read page by page until a page comes without a continue token', async () => {
  const pages: Record<string, ListPage<string>> = {
    first: { items: ['a', 'b'], metadata: { resourceVersion: '41', continue: 'c1' } },
    c1: { items: ['c', 'd'], metadata: { resourceVersion: '41', continue: 'c2' } },
    c2: { items: ['e'], metadata: { resourceVersion: '41', continue: '' } },
  };
  const asked: (string | undefined)[] = [];
  const list = await collectPages<string>(async (token) => {
    asked.push(token);
    return pages[token ?? 'first'] ?? { items: [] };
  });
  assert.deepEqual(list, { items: ['a', 'b', 'c', 'd', 'e'], resourceVersion: '41' });
  assert.deepEqual(asked, [undefined, 'c1', 'c2']);
  const single = await collectPages<string>(async () => ({ items: ['x'], metadata: { resourceVersion: '7' } }));
  assert.deepEqual(single, { items: ['x'], resourceVersion: '7' });
});

test('a continue token that comes back twice ends the list with a retryable error instead of looping', async () => {
  let calls = 0;
  await assert.rejects(
    collectPages<string>(async () => {
      calls++;
      return { items: ['x'], metadata: { continue: calls === 1 ? 't1' : 't2' } };
    }),
    (err: Error & { retryable?: boolean }) => /continue token repeated/.test(err.message) && err.retryable === true,
  );
  assert.equal(calls, 3);
});

test('a page path keeps the query it had and adds limit, then continue', () => {
  const path =
    '/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb';
  assert.equal(pagePath(path, 500, undefined), `${path}&limit=500`);
  const next = new URL(pagePath(path, 500, 'eyJ2Ijoi+/='), 'http://x');
  assert.equal(next.searchParams.get('labelSelector'), 'kubernetes.io/service-name=web');
  assert.equal(next.searchParams.get('continue'), 'eyJ2Ijoi+/=', 'the opaque token survives URL encoding');
});

test('a rotated CA file is trusted from the next request on, by the same agent; a wrong one is refused', async () => {
  const now = new Date();
  const serving = (name: string) => {
    const ca = generateCa({ commonName: name, validityDays: 2, now });
    return { ca, pair: generateServingCert({ ca, hosts: ['127.0.0.1'], validityDays: 1, now }) };
  };
  const first = serving('cluster CA 1');
  const second = serving('cluster CA 2');
  const server = createServer({ cert: first.pair.certPem, key: first.pair.keyPem }, (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, first.ca.certPem);
  const agent = new CaFileAgent(caFile, { keepAlive: true });
  after(() => agent.destroy());
  const access = {
    server: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`),
    agent,
    token: undefined,
    namespace: undefined,
  };

  assert.deepEqual(await getJson(access, '/'), { ok: true });
  // The cluster CA rotates: the apiserver serves a certificate of the new CA, the kubelet replaces the file.
  server.setSecureContext({ cert: second.pair.certPem, key: second.pair.keyPem });
  writeFileSync(caFile, second.ca.certPem);
  server.closeAllConnections(); // and restarts: a CA read once would now fail every new connection
  assert.deepEqual(await getJson(access, '/'), { ok: true }, 'verified against the new CA');

  // The file is briefly unreadable: the last CA read is kept.
  rmSync(caFile);
  assert.deepEqual(await getJson(access, '/'), { ok: true });
  // A CA that did not issue the server's certificate is refused: what the file holds is what is trusted.
  writeFileSync(caFile, serving('another CA').ca.certPem);
  await assert.rejects(getJson(access, '/'), /certificate/);
});
