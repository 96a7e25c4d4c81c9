// Table-driven malformed input over a real HTTPS server on port 0: each body gets its status and a
// message, and the server still answers /healthz after all of them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { build, listen } from './server.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import { fetchHttps, podReview, silentLogger, TEST_CONFIG, testKeyPair } from './test-support.ts';

const pair = testKeyPair();
const keyPairs = new StaticKeyPairSource(pair);
await keyPairs.start();
const app = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs });
after(() => app.close());
const { port } = await listen(app, { host: '127.0.0.1', port: 0 });
const base = `https://127.0.0.1:${port}`;

const JSON_CT = { 'content-type': 'application/json' };
const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { 'haproxy-peer-sync.io/inject': 'true', app: 'h' } }, spec: { containers: [{ name: 'haproxy', image: 'haproxy' }] } };
const good = podReview(pod);
const withRequest = (patch: Record<string, unknown>, drop: string[] = []): string => {
  const request = { ...(good['request'] as Record<string, unknown>), ...patch };
  for (const key of drop) delete request[key];
  return JSON.stringify({ ...good, request });
};

interface Case { name: string; body?: string | Buffer; headers?: Record<string, string>; method?: string; path?: string; status: number; message?: RegExp }
const cases: Case[] = [
  { name: 'empty body', body: '', headers: JSON_CT, status: 400, message: /empty/ },
  { name: 'empty body without content type', body: '', headers: {}, status: 400, message: /JSON object/ },
  { name: 'text/plain', body: JSON.stringify(good), headers: { 'content-type': 'text/plain' }, status: 400, message: /Content-Type must be application\/json/ },
  { name: 'application/xml', body: '<review/>', headers: { 'content-type': 'application/xml' }, status: 400, message: /Content-Type/ },
  { name: 'form encoded', body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 400, message: /Content-Type/ },
  { name: 'truncated JSON', body: JSON.stringify(good).slice(0, 40), headers: JSON_CT, status: 400, message: /not valid JSON/ },
  { name: 'not JSON at all', body: 'hello', headers: JSON_CT, status: 400, message: /not valid JSON/ },
  { name: 'JSON null', body: 'null', headers: JSON_CT, status: 400, message: /JSON object/ },
  { name: 'JSON array', body: '[]', headers: JSON_CT, status: 400, message: /JSON object/ },
  { name: 'JSON string', body: '"review"', headers: JSON_CT, status: 400, message: /JSON object/ },
  { name: 'JSON number', body: '42', headers: JSON_CT, status: 400, message: /JSON object/ },
  { name: 'empty object', body: '{}', headers: JSON_CT, status: 400, message: /kind must be "AdmissionReview"/ },
  { name: 'wrong kind', body: JSON.stringify({ ...good, kind: 'Pod' }), headers: JSON_CT, status: 400, message: /kind must be "AdmissionReview"/ },
  { name: 'wrong apiVersion (v1beta1)', body: JSON.stringify({ ...good, apiVersion: 'admission.k8s.io/v1beta1' }), headers: JSON_CT, status: 400, message: /apiVersion must be "admission.k8s.io\/v1"/ },
  { name: 'missing apiVersion', body: JSON.stringify({ kind: 'AdmissionReview', request: good['request'] }), headers: JSON_CT, status: 400, message: /apiVersion/ },
  { name: 'missing request', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), headers: JSON_CT, status: 400, message: /request is missing/ },
  { name: 'request is a string', body: JSON.stringify({ ...good, request: 'x' }), headers: JSON_CT, status: 400, message: /request is missing or not an object/ },
  { name: 'missing request.uid', body: withRequest({}, ['uid']), headers: JSON_CT, status: 400, message: /request\.uid/ },
  { name: 'empty request.uid', body: withRequest({ uid: '' }), headers: JSON_CT, status: 400, message: /request\.uid/ },
  { name: 'numeric request.uid', body: withRequest({ uid: 7 }), headers: JSON_CT, status: 400, message: /request\.uid/ },
  { name: 'missing request.kind', body: withRequest({}, ['kind']), headers: JSON_CT, status: 400, message: /request\.kind/ },
  { name: 'missing request.operation', body: withRequest({}, ['operation']), headers: JSON_CT, status: 400, message: /request\.operation/ },
  { name: 'pod create without object', body: withRequest({}, ['object']), headers: JSON_CT, status: 400, message: /request\.object must be the Pod/ },
  { name: 'pod without containers', body: withRequest({ object: { metadata: {}, spec: {} } }), headers: JSON_CT, status: 400, message: /spec\.containers/ },
  { name: 'a container that is not an object', body: withRequest({ object: { metadata: {}, spec: { containers: [null] } } }), headers: JSON_CT, status: 400, message: /spec\.containers must be a list of containers/ },
  { name: 'labels that are not a map of strings', body: withRequest({ object: { metadata: { labels: { 'haproxy-peer-sync.io/inject': true } }, spec: { containers: [] } } }), headers: JSON_CT, status: 400, message: /metadata\.labels/ },
  { name: 'a command that is a string', body: withRequest({ object: { metadata: {}, spec: { containers: [{ name: 'haproxy', command: 'haproxy -f x' }] } } }), headers: JSON_CT, status: 400, message: /command must be a list of strings/ },
  { name: 'dryRun not a boolean', body: withRequest({ dryRun: 'yes' }), headers: JSON_CT, status: 400, message: /dryRun/ },
  { name: 'prototype poisoning', body: '{"__proto__":{"x":1},"kind":"AdmissionReview"}', headers: JSON_CT, status: 400, message: /not valid JSON/ },
  { name: 'body over 1 MiB', body: Buffer.alloc(1024 * 1024 + 1, 0x20), headers: JSON_CT, status: 400, message: /larger than 1048576 bytes/ },
  { name: 'GET /mutate', method: 'GET', status: 404 },
  { name: 'control: a Deployment is allowed unchanged', body: withRequest({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: {} }), headers: JSON_CT, status: 200 },
  { name: 'control: a labelled pod is injected', body: JSON.stringify(good), headers: JSON_CT, status: 200 },
];

test(`${cases.length} malformed or edge-case bodies get the right status, and the server keeps serving`, async () => {
  assert.ok(cases.filter((c) => c.status === 400).length >= 20);
  for (const c of cases) {
    const res = await fetchHttps(`${base}${c.path ?? '/mutate'}`, {
      ca: pair.caPem, method: c.method ?? 'POST', ...(c.headers === undefined ? {} : { headers: c.headers }), ...(c.body === undefined ? {} : { body: c.body }),
    });
    assert.equal(res.status, c.status, `${c.name}: ${res.body}`);
    if (c.message !== undefined) {
      const json = JSON.parse(res.body) as { message: string };
      assert.match(json.message, c.message, c.name);
    }
  }
  const health = await fetchHttps(`${base}/healthz`, { ca: pair.caPem });
  assert.equal(health.status, 200);
  const metrics = await fetchHttps(`${base}/metrics`, { ca: pair.caPem });
  const failed = [...metrics.body.matchAll(/^haproxy_peer_sync_webhook_errors_total\{code="[^"]+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  assert.equal(failed, cases.filter((c) => c.status === 400).length);
});
