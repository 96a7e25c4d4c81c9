/**
 * One metrics vocabulary: the README's tables (### Metrics) against what the two /metrics endpoints
 * serve — the syncer's health server on a real port, the webhook's fastify app through inject() after
 * real AdmissionReviews — and the Prometheus Operator monitors against the objects they scrape. No real
 * part is started (no lock needed): both roles build their endpoints without a cluster.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parseAllDocuments } from 'yaml';
import { createMetrics as createSyncerMetrics } from '../syncer/metrics.ts';
import { buildHealthServer, listen } from '../syncer/health.ts';
import { build } from '../webhook/server.ts';
import { applyPatch } from '../webhook/patch.ts';
import { serviceDnsNames } from '../certs/generate.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import { podReview, silentLogger, TEST_CONFIG, testKeyPair } from './support/webhook.ts';

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

interface Row {
  readonly names: readonly string[];
  readonly type: string;
  readonly labels: readonly string[];
}

/** The rows of the tables under README's `### Metrics`, by the bold title above each table. */
function readmeTables(): Map<string, Row[]> {
  const readme = read('README.md');
  const start = readme.indexOf('\n### Metrics\n');
  assert.ok(start >= 0, 'README.md has a ### Metrics section');
  const rest = readme.slice(start + 1);
  const end = rest.slice(4).search(/\n##+ /);
  const section = end < 0 ? rest : rest.slice(0, end + 4);
  const tables = new Map<string, Row[]>();
  let rows: Row[] | undefined;
  for (const line of section.split('\n')) {
    const title = /^\*\*(\w+)\*\*/.exec(line)?.[1];
    if (title !== undefined) tables.set(title, (rows = []));
    if (!line.startsWith('| `')) continue;
    const [name = '', type = '', labels = ''] = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const ticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
    assert.ok(rows, `a table row before any **Title**: ${line}`);
    rows.push({ names: ticked(name), type, labels: ticked(labels) });
  }
  return tables;
}

interface Served {
  type: string;
  labels: Set<string>;
  samples: number;
}

/** Each metric of an exposition text: its `# TYPE`, and the label names of its samples (not `le`). */
function parseExposition(text: string): Map<string, Served> {
  const metrics = new Map<string, Served>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      metrics.set(type[1] ?? '', { type: type[2] ?? '', labels: new Set(), samples: 0 });
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const name = sample[1] ?? '';
    const base = metrics.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    const metric = metrics.get(base);
    assert.ok(metric, `sample of a metric with no # TYPE: ${line}`);
    metric.samples++;
    for (const m of (sample[2] ?? '').matchAll(/(\w+)="(?:[^"\\]|\\.)*"/g))
      if (m[1] !== 'le') metric.labels.add(m[1] ?? '');
  }
  return metrics;
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

test('the syncer: the README table lists exactly what its /metrics serves, with types and labels', async () => {
  // As syncer/main.ts builds it: process metrics included.
  const metrics = createSyncerMetrics();
  const server = buildHealthServer({
    registry: metrics.registry,
    readiness: () => ({ ready: true, reason: 'ok' }),
    startup: () => ({ ready: true, reason: 'ok' }),
  });
  after(() => {
    server.close();
  });
  const port = await listen(server, 0, '127.0.0.1');
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  const served = parseExposition(await res.text());
  const rows = readmeTables().get('Syncer') ?? [];
  assert.ok(
    rows.every((r) => r.names.length === 1),
    'one metric per row in the syncer table',
  );
  assert.deepEqual(
    sorted(rows.map((r) => r.names[0] ?? '')),
    sorted(served.keys()),
    'README syncer table vs served metric names',
  );
  // Labelled series appear only once something happened; their names are the ones each metric declares
  // (a series with other labels cannot be made), and what is served already must agree.
  const declared = new Map(metrics.registry.describe().map((d) => [d.name, d.labelNames]));
  for (const row of rows) {
    const name = row.names[0] ?? '';
    const s = served.get(name);
    assert.equal(row.type, s?.type, `${name}: type`);
    assert.deepEqual(row.labels, declared.get(name), `${name}: labels`);
    if (s !== undefined && s.samples > 0)
      assert.deepEqual(sorted(s.labels), sorted(row.labels), `${name}: labels of the served samples`);
  }
  for (const name of served.keys()) {
    assert.ok(
      /^haproxy_peer_sync_syncer_/.test(name) || /^(process|nodejs)_/.test(name),
      `${name}: our prefix, or a standard process metric`,
    );
  }
});

const keyPairs = new StaticKeyPairSource(testKeyPair());
await keyPairs.start();
const app = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs });
after(() => app.close());

const labelledPod = (): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'haproxy-0', namespace: 'web', labels: { 'haproxy-peer-sync.io/inject': 'true' } },
  spec: { containers: [{ name: 'haproxy', image: 'haproxy:3.0' }] },
});

test('the webhook: the README table lists exactly what its /metrics serves, with types and labels', async () => {
  // Something of each kind, so that every labelled metric has a series: an injection, a skip, a
  // request that is no AdmissionReview (an HTTP error).
  const answers = await Promise.all([
    app.inject({ method: 'POST', url: '/mutate', payload: podReview(labelledPod()) }),
    app.inject({
      method: 'POST',
      url: '/mutate',
      payload: podReview({ ...labelledPod(), metadata: { name: 'plain' } }),
    }),
    app.inject({ method: 'POST', url: '/mutate', payload: { kind: 'NotAReview' } }),
  ]);
  assert.deepEqual(
    answers.map((a) => a.statusCode),
    [200, 200, 400],
  );
  const res = await app.inject('/metrics');
  assert.equal(res.statusCode, 200);
  const served = parseExposition(res.body);
  const rows = readmeTables().get('Webhook') ?? [];
  const ours = rows.filter((r) => !r.names.some((n) => n.endsWith('*')));
  const patterns = rows.flatMap((r) => r.names.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1)));
  assert.deepEqual(patterns.sort(), ['nodejs_', 'process_'], 'one row for the standard process metrics');
  assert.deepEqual(
    sorted(ours.map((r) => r.names[0] ?? '')),
    sorted([...served.keys()].filter((n) => n.startsWith('haproxy_peer_sync_'))),
    'README webhook table vs served metric names',
  );
  for (const row of ours) {
    const name = row.names[0] ?? '';
    const s = served.get(name);
    assert.ok(name.startsWith('haproxy_peer_sync_webhook_'), `${name}: the webhook's prefix`);
    assert.equal(row.type, s?.type, `${name}: type`);
    assert.ok(row.labels.length === 0 || (s?.samples ?? 0) > 0, `${name}: the test made a series of it`);
    assert.deepEqual(sorted(s?.labels ?? []), sorted(row.labels), `${name}: labels`);
  }
  // Everything else is prom-client's default set, under its standard names.
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  const standard = defaults.getMetricsAsArray().map((m) => m.name);
  assert.deepEqual(
    sorted([...served.keys()].filter((n) => !n.startsWith('haproxy_peer_sync_'))),
    sorted(standard),
    "the other metrics are prom-client's defaults",
  );
  assert.ok(
    standard.every((n) => patterns.some((p) => n.startsWith(p))),
    `prom-client's defaults match ${patterns.join(', ')}`,
  );
});

const docs = <T>(path: string): T[] => parseAllDocuments(read(path)).map((d) => d.toJS() as T);
const includes = (labels: Record<string, string> | undefined, wanted: Record<string, string>): boolean =>
  Object.entries(wanted).every(([k, v]) => labels?.[k] === v);

interface Monitor {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: {
    selector: { matchLabels: Record<string, string> };
    endpoints?: {
      port: string;
      path: string;
      scheme?: string;
      tlsConfig?: { ca?: { secret?: { name: string; key: string } }; serverName?: string };
    }[];
    podMetricsEndpoints?: { port: string; path: string }[];
  };
}

test("deploy/servicemonitor.yaml scrapes the webhook Service's HTTPS port, checked with the CA of the webhook's Secret", () => {
  const [monitor] = docs<Monitor>('deploy/servicemonitor.yaml');
  const [service] = docs<V1Service>('deploy/service.yaml');
  const [deployment] = docs<V1Deployment>('deploy/deployment.yaml');
  assert.equal(monitor?.kind, 'ServiceMonitor');
  assert.equal(monitor.metadata.namespace, service?.metadata?.namespace);
  assert.ok(
    includes(service?.metadata?.labels, monitor.spec.selector.matchLabels),
    "the selector matches the Service's labels",
  );
  const [endpoint] = monitor.spec.endpoints ?? [];
  const port = service?.spec?.ports?.find((p) => p.name === endpoint?.port);
  assert.ok(port, `the Service has a port named ${endpoint?.port}`);
  const container = deployment?.spec?.template.spec?.containers.find((c) =>
    c.ports?.some((p) => p.name === port.targetPort),
  );
  assert.ok(container, 'that port reaches the webhook container');
  assert.equal(endpoint?.path, '/metrics');
  assert.equal(endpoint.scheme, 'https');
  const arg = (flag: string): string | undefined =>
    container.args?.find((a) => a.startsWith(`--${flag}=`))?.split('=')[1];
  assert.deepEqual(endpoint.tlsConfig?.ca?.secret, { name: arg('secret-name'), key: 'ca.crt' });
  assert.ok(
    serviceDnsNames(arg('service-name') ?? '', monitor.metadata.namespace ?? '').includes(
      endpoint.tlsConfig?.serverName ?? '',
    ),
    'serverName is a name of the serving certificate',
  );
  assert.ok(
    !read('deploy/kustomization.yaml').includes('servicemonitor.yaml'),
    'not among the kustomization resources (the CRD may be absent)',
  );
});

test("examples/podmonitor.yaml selects the example's pods and scrapes the port the webhook injects", async () => {
  const [monitor] = docs<Monitor>('examples/podmonitor.yaml');
  const deployment = docs<V1Deployment>('examples/haproxy.yaml').find((d) => d.kind === 'Deployment');
  assert.equal(monitor?.kind, 'PodMonitor');
  const template = deployment?.spec?.template;
  assert.ok(
    includes(template?.metadata?.labels, monitor.spec.selector.matchLabels),
    "the selector matches the example's pod labels",
  );
  // The pod as the webhook admits it: the port the PodMonitor names must be the syncer's /metrics.
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...template?.metadata, name: 'haproxy-0', namespace: 'default' },
    spec: template?.spec,
  };
  const answer = (await app.inject({ method: 'POST', url: '/mutate', payload: podReview(pod) })).json<{
    response: { patch?: string };
  }>();
  const injected = applyPatch(
    pod,
    JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')) as Parameters<typeof applyPatch>[1],
  );
  const [endpoint] = monitor.spec.podMetricsEndpoints ?? [];
  const containers = [...(injected.spec?.initContainers ?? []), ...(injected.spec?.containers ?? [])];
  const serving = containers.find((c) => c.ports?.some((p) => p.name === endpoint?.port));
  assert.ok(serving, `an injected container has a port named ${endpoint?.port}`);
  assert.equal(
    serving.ports?.find((p) => p.name === endpoint?.port)?.containerPort,
    TEST_CONFIG.healthPort,
    "the syncer's health port, which serves /metrics",
  );
  assert.equal(endpoint?.path, '/metrics');
});
