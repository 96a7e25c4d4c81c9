// The HTTP surface through app.inject(): answers to good reviews, health, readiness and metrics.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import type { Operation } from 'fast-json-patch';
import { build } from './server.ts';
import { applyPatch } from './patch.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import { podReview, silentLogger, TEST_CONFIG, testKeyPair } from '../test/support/webhook.ts';

const keyPairs = new StaticKeyPairSource(testKeyPair());
await keyPairs.start();
const seen: string[] = [];
const app = await build({
  config: TEST_CONFIG,
  logger: silentLogger(),
  keyPairs,
  accessWarnings: async (ns, sa) => {
    seen.push(`${ns}/${sa}`);
    return sa === 'default' ? [] : [`ServiceAccount ${ns}/${sa} cannot watch endpointslices`];
  },
});
after(() => app.close());

const labelled = (extra: Partial<V1Pod['metadata']> = {}, spec: Partial<V1Pod['spec']> = {}): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'haproxy-0',
    namespace: 'web',
    labels: { app: 'haproxy', 'haproxy-peer-sync.io/inject': 'true' },
    ...extra,
  },
  spec: { containers: [{ name: 'haproxy', image: 'haproxy:3.0' }], ...spec },
});

async function mutate(body: unknown) {
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: body as object });
  return {
    status: res.statusCode,
    json: res.json<{
      apiVersion: string;
      kind: string;
      response: {
        uid: string;
        allowed: boolean;
        patch?: string;
        patchType?: string;
        warnings?: string[];
        status?: { code: number; message: string };
      };
    }>(),
  };
}
const decodePatch = (b64: string): Operation[] =>
  JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as Operation[];

test('a labelled pod gets a JSON patch that injects it, echoing the request uid', async () => {
  const review = podReview(labelled());
  const { status, json } = await mutate(review);
  assert.equal(status, 200);
  assert.equal(json.apiVersion, 'admission.k8s.io/v1');
  assert.equal(json.kind, 'AdmissionReview');
  assert.equal(json.response.uid, (review['request'] as { uid: string }).uid);
  assert.equal(json.response.allowed, true);
  assert.equal(json.response.patchType, 'JSONPatch');
  const pod = applyPatch(labelled(), decodePatch(json.response.patch ?? ''));
  assert.deepEqual(
    pod.spec?.initContainers?.map((c) => c.name),
    ['haproxy-peer-sync-init', 'haproxy-peer-sync'],
  );
  assert.equal(pod.metadata?.annotations?.['haproxy-peer-sync.io/status'], 'injected; version=0.0.0-test');
  assert.equal(json.response.warnings, undefined);
});

test('dry run gets the same answer', async () => {
  const a = await mutate(podReview(labelled()));
  const b = await mutate(podReview(labelled(), { dryRun: true }));
  assert.deepEqual({ ...b.json.response, uid: '' }, { ...a.json.response, uid: '' });
});

test('a pod with generateName and no name yet is injected', async () => {
  const { json } = await mutate(podReview(labelled({ name: undefined, generateName: 'haproxy-' })));
  assert.equal(json.response.allowed, true);
  assert.ok(json.response.patch);
});

test('unlabelled pods, other kinds and other operations are allowed unchanged', async () => {
  const unlabelled = labelled({ labels: { app: 'haproxy' }, annotations: { 'haproxy-peer-sync.io/peer-port': 'abc' } });
  for (const review of [
    podReview(unlabelled),
    podReview(labelled(), { operation: 'UPDATE' }),
    podReview(labelled(), { subResource: 'ephemeralcontainers', operation: 'UPDATE' }),
    podReview(labelled(), {
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      object: { kind: 'Deployment' },
    }),
  ]) {
    const { status, json } = await mutate(review);
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(json.response).sort(), ['allowed', 'uid']);
    assert.equal(json.response.allowed, true);
  }
});

test('an invalid override is denied with a message naming the annotation', async () => {
  const { status, json } = await mutate(
    podReview(labelled({ annotations: { 'haproxy-peer-sync.io/peer-port': 'abc' } })),
  );
  assert.equal(status, 200);
  assert.equal(json.response.allowed, false);
  assert.equal(json.response.status?.code, 403);
  assert.match(json.response.status?.message ?? '', /haproxy-peer-sync\.io\/peer-port: "abc" is not a port number/);
  assert.equal(json.response.patch, undefined);
});

test("access problems come back as warnings for the pod's ServiceAccount", async () => {
  const { json } = await mutate(podReview(labelled({}, { serviceAccountName: 'haproxy' })));
  assert.deepEqual(json.response.warnings, ['ServiceAccount web/haproxy cannot watch endpointslices']);
  assert.ok(seen.includes('web/haproxy'));
});

test('healthz, readyz and metrics', async () => {
  assert.equal((await app.inject('/healthz')).statusCode, 200);
  assert.equal((await app.inject('/readyz')).statusCode, 200);
  const metrics = (await app.inject('/metrics')).body;
  assert.match(metrics, /haproxy_peer_sync_webhook_injected_total \d+/);
  assert.match(metrics, /haproxy_peer_sync_webhook_skipped_total\{reason="not-labelled"\} 1/);
  assert.match(metrics, /haproxy_peer_sync_webhook_skipped_total\{reason="not-a-pod"\} 1/);
  assert.match(metrics, /haproxy_peer_sync_webhook_denied_total 1/);
  assert.match(metrics, /haproxy_peer_sync_webhook_admission_duration_seconds_count\{outcome="injected"\} \d+/);
  assert.match(metrics, /haproxy_peer_sync_webhook_admission_requests_total\{operation="CREATE"\} \d+/);
});

test('readyz is 503 until a certificate is loaded', async () => {
  const pending = new StaticKeyPairSource(testKeyPair());
  const other = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs: pending });
  after(() => other.close());
  assert.equal((await other.inject('/readyz')).statusCode, 503);
  assert.equal((await other.inject('/healthz')).statusCode, 200);
  await pending.start();
  assert.equal((await other.inject('/readyz')).statusCode, 200);
});
