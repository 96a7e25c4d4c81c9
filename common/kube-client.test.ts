// Which credentials defaultAccess picks (client-node's loadFromDefault order), from files only.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { defaultAccess, kubeconfigAccess, lazyAccess } from './kube-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'hps-kube-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const kubeconfig = (server: string, extra: Record<string, unknown> = {}): string => JSON.stringify({
  apiVersion: 'v1', kind: 'Config', 'current-context': 'ctx',
  contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'ns1' } }],
  clusters: [{ name: 'c', cluster: { server } }],
  users: [{ name: 'u', user: { tokenFile: 'token' } }],
  ...extra,
});

test('KUBECONFIG: the first file that names the current context wins; relative paths are relative to their file', async () => {
  mkdirSync(join(dir, 'a'));
  mkdirSync(join(dir, 'b'));
  // a: only a current-context; b: the context, cluster and user, with a token file beside it.
  writeFileSync(join(dir, 'a', 'config'), JSON.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'ctx' }));
  writeFileSync(join(dir, 'b', 'config'), kubeconfig('http://127.0.0.1:6443', { 'current-context': 'other' }));
  writeFileSync(join(dir, 'b', 'token'), 'tok-b\n');
  const access = await defaultAccess({ KUBECONFIG: [join(dir, 'a', 'config'), join(dir, 'b', 'config')].join(delimiter) }, dir);
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
    applyToHTTPSOptions: async (opts: { headers?: Record<string, string> }) => { applied++; opts.headers = { Authorization: 'Bearer abc' }; },
  };
  const get = lazyAccess(kc);
  const [a, b] = await Promise.all([get(), get()]);
  assert.equal(a, b);
  assert.equal(applied, 1);
  assert.equal(a?.server.href, 'https://127.0.0.1:6443/');
  assert.equal(a?.token?.(), 'abc');
});
