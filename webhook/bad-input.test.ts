// Table-driven malformed input over a real HTTPS server on port 0: each body gets its status and a
// message (an HTTP error for a body that is not an AdmissionReview, an `allowed: false` review for a
// pod the webhook cannot read), and the server still answers /healthz after all of them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { build, listen, BODY_LIMIT } from './server.ts';
import { MAX_JSON_CONTAINERS, MAX_JSON_DEPTH } from './review.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import { fetchHttps, podReview, silentLogger, TEST_CONFIG, testKeyPair } from '../test/support/webhook.ts';

const pair = testKeyPair();
const keyPairs = new StaticKeyPairSource(pair);
await keyPairs.start();
const app = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs });
after(() => app.close());
const { port } = await listen(app, { host: '127.0.0.1', port: 0 });
const base = `https://127.0.0.1:${port}`;

const JSON_CT = { 'content-type': 'application/json' };
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', labels: { 'haproxy-peer-sync.io/inject': 'true', app: 'h' } },
  spec: { containers: [{ name: 'haproxy', image: 'haproxy' }] },
};
const good = podReview(pod);
const withRequest = (patch: Record<string, unknown>, drop: string[] = []): string => {
  const request = { ...(good['request'] as Record<string, unknown>), ...patch };
  for (const key of drop) delete request[key];
  return JSON.stringify({ ...good, request });
};
/** The labelled pod with `spec` fields replaced. */
const withSpec = (spec: Record<string, unknown>): string =>
  withRequest({ object: { ...pod, spec: { ...pod.spec, ...spec } } });
const withMetadata = (metadata: Record<string, unknown>): string =>
  withRequest({ object: { ...pod, metadata: { ...pod.metadata, ...metadata } } });
/** `depth` nested objects, as JSON text (depth 1: `{"a":1}`). */
const nested = (depth: number): string => '{"a":'.repeat(depth - 1) + '{"a":1}' + '}'.repeat(depth - 1);

interface Case {
  name: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
  status: number;
  /** For an HTTP error: its message. */
  message?: RegExp;
  /** For a 200: the review denies the pod with code 400 and this message. */
  unreadable?: RegExp;
}
const cases: Case[] = [
  // Transport: not JSON, too big, too deep.
  { name: 'empty body', body: '', headers: JSON_CT, status: 400, message: /empty/ },
  { name: 'empty body without content type', body: '', headers: {}, status: 400, message: /JSON object/ },
  {
    name: 'a body without content type',
    body: JSON.stringify(good),
    headers: {},
    status: 415,
    message: /Content-Type must be application\/json/,
  },
  {
    name: 'text/plain',
    body: JSON.stringify(good),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    message: /Content-Type must be application\/json/,
  },
  {
    name: 'application/xml',
    body: '<review/>',
    headers: { 'content-type': 'application/xml' },
    status: 415,
    message: /Content-Type/,
  },
  {
    name: 'form encoded',
    body: 'a=b',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    message: /Content-Type/,
  },
  {
    name: 'truncated JSON',
    body: JSON.stringify(good).slice(0, 40),
    headers: JSON_CT,
    status: 400,
    message: /not valid JSON/,
  },
  { name: 'not JSON at all', body: 'hello', headers: JSON_CT, status: 400, message: /not valid JSON/ },
  {
    name: 'prototype poisoning',
    body: '{"__proto__":{"x":1},"kind":"AdmissionReview"}',
    headers: JSON_CT,
    status: 400,
    message: /__proto__/,
  },
  {
    name: `body over ${BODY_LIMIT} bytes`,
    body: Buffer.alloc(BODY_LIMIT + 1, 0x20),
    headers: JSON_CT,
    status: 413,
    message: /larger than 3145728 bytes \(3 MiB/,
  },
  {
    name: `${MAX_JSON_DEPTH + 1} nested objects`,
    body: nested(MAX_JSON_DEPTH + 1),
    headers: JSON_CT,
    status: 400,
    message: /more than 100 levels deep/,
  },
  {
    name: '2,000 nested lists inside the pod',
    body: JSON.stringify(good).replace('"containers":', `"x":${'['.repeat(2000)}${']'.repeat(2000)},"containers":`),
    headers: JSON_CT,
    status: 400,
    message: /levels deep/,
  },
  {
    name: `${MAX_JSON_CONTAINERS + 1} objects inside the pod`,
    body: withSpec({ x: new Array(MAX_JSON_CONTAINERS + 1).fill({}) }),
    headers: JSON_CT,
    status: 400,
    message: /more than 100000 objects and lists/,
  },
  {
    name: 'brackets inside strings do not count, after escaped quotes and backslashes either',
    body: withMetadata({ annotations: { note: '['.repeat(500), quoted: `\\"${'{'.repeat(500)}"` } }),
    headers: JSON_CT,
    status: 200,
  },
  // Not an AdmissionReview.
  { name: 'JSON null', body: 'null', headers: JSON_CT, status: 400, message: /JSON object/ },
  { name: 'JSON array', body: '[]', headers: JSON_CT, status: 400, message: /JSON object/ },
  { name: 'JSON string', body: '"review"', headers: JSON_CT, status: 400, message: /JSON object/ },
  { name: 'JSON number', body: '42', headers: JSON_CT, status: 400, message: /JSON object/ },
  { name: 'empty object', body: '{}', headers: JSON_CT, status: 400, message: /kind must be "AdmissionReview"/ },
  {
    name: 'wrong kind',
    body: JSON.stringify({ ...good, kind: 'Pod' }),
    headers: JSON_CT,
    status: 400,
    message: /kind must be "AdmissionReview", not "Pod"/,
  },
  {
    name: 'kind is a long string',
    body: JSON.stringify({ ...good, kind: 'x'.repeat(100_000) }),
    headers: JSON_CT,
    status: 400,
    message: /^kind must be "AdmissionReview", not "x{64}…"$/,
  },
  {
    name: 'wrong apiVersion (v1beta1)',
    body: JSON.stringify({ ...good, apiVersion: 'admission.k8s.io/v1beta1' }),
    headers: JSON_CT,
    status: 400,
    message: /apiVersion must be "admission.k8s.io\/v1"/,
  },
  {
    name: 'missing apiVersion',
    body: JSON.stringify({ kind: 'AdmissionReview', request: good['request'] }),
    headers: JSON_CT,
    status: 400,
    message: /apiVersion/,
  },
  {
    name: 'missing request',
    body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
    headers: JSON_CT,
    status: 400,
    message: /request is missing/,
  },
  {
    name: 'request is a string',
    body: JSON.stringify({ ...good, request: 'x' }),
    headers: JSON_CT,
    status: 400,
    message: /request is missing or not an object/,
  },
  {
    name: 'missing request.uid',
    body: withRequest({}, ['uid']),
    headers: JSON_CT,
    status: 400,
    message: /request\.uid/,
  },
  { name: 'empty request.uid', body: withRequest({ uid: '' }), headers: JSON_CT, status: 400, message: /request\.uid/ },
  {
    name: 'numeric request.uid',
    body: withRequest({ uid: 7 }),
    headers: JSON_CT,
    status: 400,
    message: /request\.uid/,
  },
  {
    name: 'request.uid of 1,000 characters',
    body: withRequest({ uid: 'u'.repeat(1000) }),
    headers: JSON_CT,
    status: 400,
    message: /request\.uid must be a non-empty string of at most 256 characters/,
  },
  {
    name: 'missing request.kind',
    body: withRequest({}, ['kind']),
    headers: JSON_CT,
    status: 400,
    message: /request\.kind/,
  },
  {
    name: 'missing request.operation',
    body: withRequest({}, ['operation']),
    headers: JSON_CT,
    status: 400,
    message: /request\.operation must be one of CREATE, UPDATE, DELETE, CONNECT, not missing/,
  },
  {
    name: 'an operation admission.k8s.io/v1 does not have',
    body: withRequest({ operation: 'PATCH' }),
    headers: JSON_CT,
    status: 400,
    message: /request\.operation must be one of CREATE, UPDATE, DELETE, CONNECT, not "PATCH"/,
  },
  {
    name: 'dryRun not a boolean',
    body: withRequest({ dryRun: 'yes' }),
    headers: JSON_CT,
    status: 400,
    message: /dryRun/,
  },
  { name: 'GET /mutate', method: 'GET', status: 404 },
  // A review with a pod the webhook cannot read: denied, naming the field.
  {
    name: 'pod create without object',
    body: withRequest({}, ['object']),
    headers: JSON_CT,
    status: 200,
    unreadable: /the pod is missing/,
  },
  {
    name: 'pod without spec',
    body: withRequest({ object: { metadata: {} } }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec is missing/,
  },
  {
    name: 'pod without containers',
    body: withRequest({ object: { metadata: {}, spec: {} } }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.containers is missing/,
  },
  {
    name: 'containers: null (a pod without containers, as the apiserver encodes it)',
    body: withSpec({ containers: null }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.containers must be a list, not null/,
  },
  {
    name: 'containers: [null, 3]',
    body: withSpec({ containers: [null, 3] }),
    headers: JSON_CT,
    status: 200,
    unreadable:
      /spec\.containers\[0\] must be an object, not null; spec\.containers\[1\] must be an object, not the number 3/,
  },
  {
    name: 'volumes: [null]',
    body: withSpec({ volumes: [null] }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.volumes\[0\] must be an object, not null/,
  },
  {
    name: 'volumes is an object',
    body: withSpec({ volumes: { name: 'v' } }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.volumes must be a list, not an object/,
  },
  {
    name: 'initContainers: [null]',
    body: withSpec({ initContainers: [null] }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.initContainers\[0\] must be an object/,
  },
  {
    name: 'an env entry that is null',
    body: withSpec({ containers: [{ name: 'haproxy', env: [{ name: 'A', value: 'b' }, null] }] }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.containers\[0\]\.env\[1\] must be an object, not null/,
  },
  {
    name: 'a volume mount without mountPath',
    body: withSpec({ containers: [{ name: 'haproxy', volumeMounts: [{ name: 'v' }] }] }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.containers\[0\]\.volumeMounts\[0\]\.mountPath is missing/,
  },
  {
    name: 'a container without a name',
    body: withSpec({ containers: [{ image: 'haproxy' }] }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.containers\[0\]\.name is missing/,
  },
  {
    name: 'a command that is a string',
    body: withSpec({ containers: [{ name: 'haproxy', command: 'haproxy -f x' }] }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.containers\[0\]\.command must be a list, not the string "haproxy -f x"/,
  },
  {
    name: 'an argument that is a number',
    body: withSpec({ containers: [{ name: 'haproxy', args: ['-f', 7] }] }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.containers\[0\]\.args\[1\] must be a string, not the number 7/,
  },
  {
    name: 'runAsUser that is a string',
    body: withSpec({ securityContext: { runAsUser: '0' } }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.securityContext\.runAsUser must be an integer, not the string "0"/,
  },
  {
    name: 'supplementalGroups that is a number',
    body: withSpec({ securityContext: { supplementalGroups: 5 } }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.securityContext\.supplementalGroups must be a list/,
  },
  {
    name: 'terminationGracePeriodSeconds that is a string',
    body: withSpec({ terminationGracePeriodSeconds: '30' }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.terminationGracePeriodSeconds must be an integer/,
  },
  {
    name: 'a label that is not a string',
    body: withMetadata({ labels: { 'haproxy-peer-sync.io/inject': true } }),
    headers: JSON_CT,
    status: 200,
    unreadable: /metadata\.labels\["haproxy-peer-sync\.io\/inject"\] must be a string, not true/,
  },
  {
    name: 'an annotation that is an object',
    body: withMetadata({ annotations: { 'haproxy-peer-sync.io/peer-port': { port: 1 } } }),
    headers: JSON_CT,
    status: 200,
    unreadable: /metadata\.annotations\["haproxy-peer-sync\.io\/peer-port"\] must be a string, not an object/,
  },
  {
    name: 'metadata that is a list',
    body: withRequest({ object: { ...pod, metadata: [] } }),
    headers: JSON_CT,
    status: 200,
    unreadable: /metadata must be an object, not a list/,
  },
  {
    name: '500 null volumes: five named, the rest counted',
    body: withSpec({ volumes: new Array(500).fill(null) }),
    headers: JSON_CT,
    status: 200,
    unreadable: /spec\.volumes\[4\] must be an object, not null; and 495 more$/,
  },
  // Controls.
  {
    name: 'control: a Deployment is allowed unchanged',
    body: withRequest({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: {} }),
    headers: JSON_CT,
    status: 200,
  },
  { name: 'control: a labelled pod is injected', body: JSON.stringify(good), headers: JSON_CT, status: 200 },
  {
    name: 'control: application/json with a charset',
    body: JSON.stringify(good),
    headers: { 'content-type': 'application/json; charset=utf-8' },
    status: 200,
  },
  {
    name: 'control: a pod with 20,000 environment variables is injected',
    body: withSpec({
      containers: [{ name: 'haproxy', env: Array.from({ length: 20_000 }, (_, i) => ({ name: `V${i}`, value: 'x' })) }],
    }),
    headers: JSON_CT,
    status: 200,
  },
  {
    name: 'control: a pod of almost 3 MiB (one large annotation) is injected',
    body: withMetadata({ annotations: { 'example.com/blob': 'x'.repeat(BODY_LIMIT - 2048) } }),
    headers: JSON_CT,
    status: 200,
  },
];

test(`${cases.length} malformed or edge-case bodies get the right status, and the server keeps serving`, async () => {
  assert.ok(cases.filter((c) => c.status >= 400).length >= 30);
  for (const c of cases) {
    const res = await fetchHttps(`${base}${c.path ?? '/mutate'}`, {
      ca: pair.caPem,
      method: c.method ?? 'POST',
      ...(c.headers === undefined ? {} : { headers: c.headers }),
      ...(c.body === undefined ? {} : { body: c.body }),
    });
    assert.equal(res.status, c.status, `${c.name}: ${res.body.slice(0, 300)}`);
    if (c.message !== undefined) {
      const json = JSON.parse(res.body) as { error: string; message: string };
      assert.match(json.error, /^HPS_[A-Z_]+$/, c.name);
      assert.match(json.message, c.message, c.name);
    }
    if (c.status === 200) {
      const { response } = JSON.parse(res.body) as {
        response: { allowed: boolean; patch?: string; status?: { code: number; message: string } };
      };
      if (c.unreadable === undefined) {
        assert.equal(response.allowed, true, `${c.name}: ${JSON.stringify(response.status)}`);
      } else {
        assert.equal(response.allowed, false, c.name);
        assert.equal(response.status?.code, 400, c.name);
        assert.match(response.status?.message ?? '', /^haproxy-peer-sync cannot read this pod: /, c.name);
        assert.match(response.status?.message ?? '', c.unreadable, c.name);
        assert.equal(response.patch, undefined, c.name);
      }
    }
  }
  const health = await fetchHttps(`${base}/healthz`, { ca: pair.caPem });
  assert.equal(health.status, 200);
  // Every HTTP error is counted once, under our own code.
  const metrics = await fetchHttps(`${base}/metrics`, { ca: pair.caPem });
  const errors = [...metrics.body.matchAll(/^haproxy_peer_sync_webhook_errors_total\{code="([^"]+)"\} (\d+)$/gm)];
  assert.equal(
    errors.reduce((n, m) => n + Number(m[2]), 0),
    cases.filter((c) => c.status >= 400 && c.status !== 404).length,
  );
  assert.deepEqual(
    errors.map((m) => m[1] ?? '').filter((code) => !code.startsWith('HPS_')),
    [],
  );
});
