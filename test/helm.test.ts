/**
 * The Helm chart (deploy/helm/haproxy-peer-sync) against deploy/, without a cluster: `helm lint`, and
 * what `helm template` renders. With its default values the chart must give the very objects `kubectl
 * apply -k deploy/` applies, field by field, so the two installs cannot drift apart; its values must
 * reach the webhook as flags the webhook itself accepts (parsed here by the webhook's own loader).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadWebhookConfig, type WebhookConfig } from '../webhook/options.ts';
import {
  CHART,
  helm,
  objectKey,
  parseObjects,
  RELEASE,
  RELEASE_NAMESPACE,
  renderChart,
  renderKustomize,
  type KubeObject,
} from './harness/helm.ts';
import { REPO_ROOT } from './harness/sandbox.ts';

const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

/** The labels Helm charts conventionally add (helm create): the one difference with deploy/ allowed. */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance'];

const find = (objects: KubeObject[], kind: string, name?: string): KubeObject => {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (o === undefined) throw new Error(`no ${kind} ${name ?? ''} rendered`);
  return o;
};

/** The webhook Deployment's container, as rendered. */
interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  args: string[];
  env: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string } }[];
}
const podSpec = (objects: KubeObject[]): PodSpec =>
  (find(objects, 'Deployment') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const webhookContainer = (objects: KubeObject[]): Container => {
  const c = podSpec(objects).containers.find((x) => x.name === 'webhook');
  if (c === undefined) throw new Error('no webhook container');
  return c;
};

/**
 * The webhook's configuration as the rendered Deployment starts it: its args (with $(POD_NAMESPACE)
 * expanded as the kubelet does) and plain env values, through the webhook's own flag loader.
 */
function webhookConfigOf(objects: KubeObject[]): WebhookConfig {
  const c = webhookContainer(objects);
  const env: Record<string, string> = { POD_NAMESPACE: RELEASE_NAMESPACE };
  for (const e of c.env) if (e.value !== undefined) env[e.name] = e.value;
  return loadWebhookConfig(
    c.args.map((a) => a.replaceAll('$(POD_NAMESPACE)', RELEASE_NAMESPACE)),
    env,
    pkg.version,
  );
}

/** A copy without Helm's labels, after checking each object carries them with the release's values. */
function withoutHelmLabels(o: KubeObject): KubeObject {
  const copy = structuredClone(o) as KubeObject & {
    spec?: { template?: { metadata?: { labels?: Record<string, string> } } };
  };
  const labels = copy.metadata.labels ?? {};
  assert.equal(labels['app.kubernetes.io/managed-by'], 'Helm', `${objectKey(o)}: managed-by`);
  assert.equal(labels['app.kubernetes.io/instance'], RELEASE, `${objectKey(o)}: instance`);
  assert.match(labels['helm.sh/chart'] ?? '', /^haproxy-peer-sync-\d+\.\d+\.\d+/, `${objectKey(o)}: chart`);
  for (const l of HELM_LABELS) {
    delete labels[l];
    delete copy.spec?.template?.metadata?.labels?.[l];
  }
  return copy;
}

/**
 * deploy/'s MutatingWebhookConfiguration as the chart words it: Helm creates the release namespace
 * (--create-namespace) without deploy/'s ignore label, so the chart leaves it out by name as well. Once
 * deploy/ also names its namespace there, this changes nothing.
 */
function withReleaseNamespaceLeftOut(o: KubeObject): KubeObject {
  if (o.kind !== 'MutatingWebhookConfiguration') return o;
  const copy = structuredClone(o) as KubeObject & {
    webhooks: { namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] } }[];
  };
  for (const w of copy.webhooks) {
    const byName = w.namespaceSelector.matchExpressions.find(
      (e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn',
    );
    if (byName !== undefined && !byName.values.includes(RELEASE_NAMESPACE)) byName.values.push(RELEASE_NAMESPACE);
  }
  return copy;
}

test('helm lint --strict passes, with the default values and with cert-manager certificates', async () => {
  for (const set of [
    [],
    [
      '--set',
      'certificates.mode=cert-manager',
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'metrics.podMonitor.enabled=true',
    ],
  ]) {
    const r = await helm('lint', '--strict', CHART, '--namespace', RELEASE_NAMESPACE, ...set);
    assert.equal(r.code, 0, `${set.join(' ')}\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test("with default values the chart renders the objects of deploy/, field by field (Helm's labels aside)", async () => {
  const chart = await renderChart();
  const kustomize = await renderKustomize();
  // Helm creates the release namespace itself (helm install --create-namespace); a chart never owns it.
  const expected = kustomize.filter((o) => o.kind !== 'Namespace');
  assert.deepEqual(
    kustomize.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name),
    [RELEASE_NAMESPACE],
  );
  assert.deepEqual(chart.map(objectKey).sort(), expected.map(objectKey).sort(), 'the same objects');
  const byKey = new Map(chart.map((o) => [objectKey(o), o]));
  for (const want of expected) {
    const got = byKey.get(objectKey(want));
    assert.ok(got !== undefined);
    assert.deepEqual(withoutHelmLabels(got), withReleaseNamespaceLeftOut(want), objectKey(want));
  }
});

test('the ServiceMonitor and PodMonitor switches render deploy/servicemonitor.yaml and examples/podmonitor.yaml', async () => {
  const off = await renderChart();
  assert.deepEqual(
    off.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/')),
    [],
    'none by default',
  );
  const chart = await renderChart(
    'metrics.serviceMonitor.enabled=true',
    'metrics.podMonitor.enabled=true',
    'metrics.podMonitor.labels.release=prom',
  );
  const [serviceMonitor] = parseObjects(await readFile(join(REPO_ROOT, 'deploy/servicemonitor.yaml'), 'utf8'));
  assert.ok(serviceMonitor !== undefined);
  assert.deepEqual(withoutHelmLabels(find(chart, 'ServiceMonitor')), serviceMonitor);
  // The example watches its own namespace; the chart's watches every namespace, the same way.
  const [example] = parseObjects(await readFile(join(REPO_ROOT, 'examples/podmonitor.yaml'), 'utf8'));
  const podMonitor = find(chart, 'PodMonitor') as KubeObject & { spec: Record<string, unknown> };
  assert.deepEqual(podMonitor.spec, { ...(example?.['spec'] as object), namespaceSelector: { any: true } });
  assert.equal(podMonitor.metadata.labels?.['release'], 'prom', 'labels for a Prometheus that selects by label');
});

test("the chart's values reach the webhook as flags it accepts: image, pull policy and every sidecar default", async () => {
  const defaults = webhookConfigOf(await renderChart());
  const chart = await renderChart(
    'image.repository=registry.example/team/hps',
    'image.tag=1.2.3',
    'image.pullPolicy=Always',
    'sidecar.mode=regular',
    'sidecar.drainSeconds=0',
    'sidecar.healthPort=9090',
    'sidecar.resources.requests.cpu=20m',
    'sidecar.resources.requests.memory=48Mi',
    'sidecar.resources.limits.cpu=300m',
    'sidecar.resources.limits.memory=160Mi',
    'logLevel=debug',
  );
  const c = webhookContainer(chart);
  assert.equal(c.image, 'registry.example/team/hps:1.2.3');
  assert.equal(c.imagePullPolicy, 'Always');
  const config = webhookConfigOf(chart);
  assert.deepEqual(
    {
      image: config.image,
      imagePullPolicy: config.imagePullPolicy,
      sidecarMode: config.sidecarMode,
      drainSeconds: config.drainSeconds,
      syncerHealthPort: config.syncerHealthPort,
      resources: config.resources,
      logLevel: config.logLevel,
    },
    {
      image: 'registry.example/team/hps:1.2.3',
      imagePullPolicy: 'Always',
      sidecarMode: 'regular',
      drainSeconds: 0,
      syncerHealthPort: 9090,
      resources: { requests: { cpu: '20m', memory: '48Mi' }, limits: { cpu: '300m', memory: '160Mi' } },
      logLevel: 'debug',
    },
  );
  // Only the values given change: everything else is what the default install runs.
  assert.deepEqual(
    {
      ...config,
      image: defaults.image,
      imagePullPolicy: undefined,
      sidecarMode: 'native',
      drainSeconds: defaults.drainSeconds,
      syncerHealthPort: defaults.syncerHealthPort,
      resources: defaults.resources,
      logLevel: defaults.logLevel,
    },
    defaults,
  );
  assert.equal(
    defaults.image,
    `ghcr.io/haproxy-peer-sync/haproxy-peer-sync:${pkg.version}`,
    "the default image is the chart's appVersion, the package's version",
  );
  const injectedPolicy = webhookConfigOf(
    await renderChart('image.pullPolicy=Always', 'sidecar.imagePullPolicy=IfNotPresent'),
  );
  assert.equal(
    injectedPolicy.imagePullPolicy,
    'IfNotPresent',
    'sidecar.imagePullPolicy wins over image.pullPolicy for injected containers',
  );
});

test('cert-manager mode: a Certificate for the Service into the Secret the webhook mounts, and the CA injector annotation', async () => {
  const chart = await renderChart('certificates.mode=cert-manager');
  const config = webhookConfigOf(chart);
  assert.equal(config.certs.kind, 'files');
  assert.equal(config.webhookConfigName, undefined, 'cert-manager keeps the caBundle, not the webhook');
  const certificate = find(chart, 'Certificate') as KubeObject & {
    spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string } };
  };
  assert.ok(
    certificate.spec.dnsNames.includes(`haproxy-peer-sync-webhook.${RELEASE_NAMESPACE}.svc`),
    'the name the apiserver calls',
  );
  const issuer = find(chart, 'Issuer');
  assert.deepEqual(certificate.spec.issuerRef, {
    name: issuer.metadata.name,
    kind: 'Issuer',
    group: 'cert-manager.io',
  });
  // The webhook reads the files of the Secret the Certificate fills.
  const spec = podSpec(chart);
  const mount = webhookContainer(chart).volumeMounts?.find(
    (m) => config.certs.kind === 'files' && config.certs.certFile.startsWith(`${m.mountPath}/`),
  );
  assert.ok(mount !== undefined, 'the certificate file is on a mounted volume');
  assert.equal(spec.volumes?.find((v) => v.name === mount.name)?.secret?.secretName, certificate.spec.secretName);
  assert.equal(
    find(chart, 'MutatingWebhookConfiguration').metadata.annotations?.['cert-manager.io/inject-ca-from'],
    `${RELEASE_NAMESPACE}/${certificate.metadata.name}`,
  );
  // Nothing left of the self-managed mode: no Secret Role, no right to patch the configuration.
  assert.deepEqual(chart.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding').map(objectKey), []);
  assert.doesNotMatch(
    JSON.stringify(find(chart, 'ClusterRole', 'haproxy-peer-sync-webhook')),
    /mutatingwebhookconfigurations/,
  );

  const own = await renderChart(
    'certificates.mode=cert-manager',
    'certificates.certManager.issuerRef.name=corp-ca',
    'certificates.certManager.issuerRef.kind=ClusterIssuer',
  );
  assert.deepEqual(
    own.filter((o) => o.kind === 'Issuer'),
    [],
    'no Issuer of our own when one is given',
  );
  assert.deepEqual((find(own, 'Certificate') as unknown as { spec: { issuerRef: unknown } }).spec.issuerRef, {
    name: 'corp-ca',
    kind: 'ClusterIssuer',
    group: 'cert-manager.io',
  });
});

test('namespaceSelector and failurePolicy come from the values; the release namespace is always left out', async () => {
  const chart = await renderChart(
    'webhook.failurePolicy=Ignore',
    'webhook.namespaceSelector.matchLabels.team=edge',
    'webhook.namespaceSelector.matchExpressions=null',
  );
  const hook = (
    find(chart, 'MutatingWebhookConfiguration') as unknown as {
      webhooks: { failurePolicy: string; namespaceSelector: unknown }[];
    }
  ).webhooks[0];
  assert.equal(hook?.failurePolicy, 'Ignore');
  assert.deepEqual(hook?.namespaceSelector, {
    matchLabels: { team: 'edge' },
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [RELEASE_NAMESPACE] }],
  });
});

test('values the webhook would refuse are refused by helm itself, naming the value', async () => {
  for (const [set, field] of [
    ['certificates.mode=vault', /certificates.*mode/s],
    ['sidecar.mode=sidecar', /sidecar.*mode/s],
    ['sidecar.drainSeconds=601', /drainSeconds/],
    ['webhook.failurePolicy=Retry', /failurePolicy/],
    ['sidecar.resources.request.cpu=1', /resources/],
  ] as const) {
    const r = await helm('template', RELEASE, CHART, '--set', set);
    assert.notEqual(r.code, 0, `${set} accepted`);
    assert.match(r.stderr, field, set);
  }
});
