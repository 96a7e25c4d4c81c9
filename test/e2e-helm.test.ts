/**
 * End to end through Helm, the way an operator who uses Helm installs us: `helm install` of the chart on
 * the real node, then the example of examples/ is injected with what the chart's values say, runs, and
 * syncs its peers; `helm uninstall` takes the webhook away again, admission registration included.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from './harness/processes.ts';
import { startSandbox, type Sandbox } from './harness/sandbox.ts';
import { haproxyPods, NS, SYNCER, SYNCER_INIT, waitConverged } from './harness/e2e-example.ts';
import { CHART, helm, RELEASE, RELEASE_NAMESPACE } from './harness/helm.ts';

let sandbox: Sandbox | undefined;
const sb = (): Sandbox => {
  if (sandbox === undefined) throw new Error('no sandbox: its start failed (see the before() hook)');
  return sandbox;
};
before(async () => {
  sandbox = await startSandbox();
});
after(async () => {
  await sandbox?.stop();
});

/** Values an operator would set; each one must show in the injected pods. */
const VALUES = [
  'sidecar.drainSeconds=3',
  'sidecar.resources.limits.memory=160Mi',
  'sidecar.resources.requests.memory=40Mi',
];
const IMAGE = 'ghcr.io/haproxy-peer-sync/haproxy-peer-sync:';

const helmOn = async (...args: string[]): Promise<string> => {
  const r = await helm(...args, '--kubeconfig', sb().controlPlane.kubeconfigPath);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
};

test('helm install: the webhook rolls out and publishes its caBundle', async () => {
  await helmOn(
    'install',
    RELEASE,
    CHART,
    '--namespace',
    RELEASE_NAMESPACE,
    '--create-namespace',
    ...VALUES.flatMap((v) => ['--set', v]),
    '--wait',
    '--timeout',
    '5m',
  );
  const list = await helmOn('list', '--namespace', RELEASE_NAMESPACE, '--output', 'json');
  const releases = JSON.parse(list) as { name: string; status: string }[];
  assert.deepEqual(
    releases.map((r) => [r.name, r.status]),
    [[RELEASE, 'deployed']],
  );
  const admission = sb().controlPlane.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  await waitFor(
    async () => {
      const mwc = await admission.readMutatingWebhookConfiguration({ name: 'haproxy-peer-sync' });
      return (mwc.webhooks?.[0]?.clientConfig.caBundle ?? '') !== '';
    },
    { what: 'the webhook to publish its caBundle', timeoutMs: 60_000 },
  );
});

test("the example is injected with the chart's image and values, and its 3 replicas sync their peers", async () => {
  await sb().applyExamples();
  const replicas = await waitConverged(sb(), 3, 'the example after helm install');
  assert.equal(replicas.length, 3);
  for (const pod of await haproxyPods(sb())) {
    const name = pod.metadata?.name ?? '';
    assert.match(pod.metadata?.annotations?.['haproxy-peer-sync.io/status'] ?? '', /^injected/, name);
    const inits = pod.spec?.initContainers ?? [];
    assert.deepEqual(
      inits.map((c) => c.name),
      [SYNCER_INIT, SYNCER],
      `${name}: native sidecar (sidecar.mode default)`,
    );
    for (const c of inits) assert.ok(c.image?.startsWith(IMAGE), `${name}/${c.name}: ${c.image}`);
    const syncer = inits[1];
    assert.deepEqual(
      [syncer?.resources?.requests?.['memory'], syncer?.resources?.limits?.['memory']],
      ['40Mi', '160Mi'],
      `${name}: sidecar.resources`,
    );
    const haproxy = pod.spec?.containers.find((c) => c.name === 'haproxy');
    assert.equal(haproxy?.lifecycle?.preStop?.sleep?.seconds, 3, `${name}: sidecar.drainSeconds`);
  }
  for (const r of replicas) {
    const remotes = (r.peers ?? []).filter((p) => !p.local);
    assert.deepEqual(
      remotes.map((p) => p.name).sort(),
      replicas
        .map((o) => o.pod)
        .filter((n) => n !== r.pod)
        .sort(),
      `${r.pod}: peers`,
    );
    assert.deepEqual(
      remotes.filter((p) => p.status !== 'ESTA'),
      [],
      `${r.pod}: every link ESTA`,
    );
  }
});

test('helm uninstall removes the webhook and its admission registration', async () => {
  await helmOn('uninstall', RELEASE, '--namespace', RELEASE_NAMESPACE, '--wait', '--timeout', '3m');
  const admission = sb().controlPlane.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  const names = (await admission.listMutatingWebhookConfiguration()).items.map((m) => m.metadata?.name);
  assert.deepEqual(
    names.filter((n) => n === 'haproxy-peer-sync'),
    [],
    'no registration left to refuse labelled pods (failurePolicy Fail)',
  );
  const apps = sb().controlPlane.kubeConfig.makeApiClient(k8s.AppsV1Api);
  assert.deepEqual(
    (await apps.listNamespacedDeployment({ namespace: RELEASE_NAMESPACE })).items.map((d) => d.metadata?.name),
    [],
  );
  // The example keeps running with what it was given at admission.
  assert.equal(
    (await haproxyPods(sb())).filter((p) => p.metadata?.deletionTimestamp === undefined).length,
    3,
    `pods in ${NS}`,
  );
});
