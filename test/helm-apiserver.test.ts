/**
 * What `helm template` renders from the chart, validated by the REAL kube-apiserver: a server-side dry
 * run with strict field validation (every field known to the API, every value admissible), for the
 * default values and for the other shapes the values give. Objects of CRDs this control plane does not
 * have (cert-manager's, the Prometheus Operator's) are checked by test/helm.test.ts instead.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { defaultBinDir, startControlPlane, type ControlPlane } from './harness/control-plane.ts';
import { objectKey, RELEASE_NAMESPACE, renderChart, type KubeObject } from './harness/helm.ts';

const run = promisify(execFile);
/** API groups served only once their CRDs are installed: absent from this control plane. */
const CRD_GROUPS = ['cert-manager.io/', 'monitoring.coreos.com/'];

let cp: ControlPlane | undefined;
let dir = '';
before(async () => {
  cp = await startControlPlane();
  dir = await mkdtemp(join(tmpdir(), 'hps-helm-apiserver-'));
  // What `helm install --create-namespace` does first: a dry run cannot create the namespace.
  await cp.createNamespace(RELEASE_NAMESPACE);
});
after(async () => {
  await cp?.stop();
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

/** `kubectl apply --dry-run=server --validate=strict` of the objects; resolves with both streams. */
async function dryRun(objects: KubeObject[], name: string): Promise<{ stdout: string; stderr: string }> {
  if (cp === undefined) throw new Error('no control plane');
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, objects.map((o) => YAML.stringify(o)).join('---\n'));
  try {
    return await run(join(defaultBinDir(), 'kubectl'), [
      '--kubeconfig',
      cp.kubeconfigPath,
      'apply',
      '--dry-run=server',
      '--validate=strict',
      '-f',
      file,
    ]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`server-side dry run of ${name} refused: ${e.stderr ?? e.message}`, { cause: err });
  }
}

const VARIANTS: Record<string, string[]> = {
  'default values': [],
  'regular sidecars, every sidecar default, own image, Ignore': [
    'image.repository=registry.example/team/hps',
    'image.tag=1.2.3',
    'image.pullPolicy=IfNotPresent',
    'imagePullSecrets[0].name=registry-login',
    'sidecar.mode=regular',
    'sidecar.drainSeconds=0',
    'sidecar.healthPort=9090',
    'sidecar.resources.limits.memory=160Mi',
    'webhook.failurePolicy=Ignore',
    'webhook.timeoutSeconds=10',
    'webhook.namespaceSelector.matchLabels.team=edge',
    'replicas=3',
    'podDisruptionBudget.minAvailable=2',
    'logLevel=debug',
    'priorityClassName=system-cluster-critical',
    'nodeSelector.kubernetes\\.io/os=linux',
    'podAnnotations.example\\.com/owner=edge',
  ],
  'cert-manager certificates and both monitors': [
    'certificates.mode=cert-manager',
    'metrics.serviceMonitor.enabled=true',
    'metrics.podMonitor.enabled=true',
  ],
};

for (const [name, set] of Object.entries(VARIANTS)) {
  test(`helm template (${name}) passes the apiserver's server-side validation without a warning`, async () => {
    const rendered = await renderChart(...set);
    const builtIn = rendered.filter((o) => !CRD_GROUPS.some((g) => o.apiVersion.startsWith(g)));
    const kinds = new Set(builtIn.map((o) => o.kind));
    for (const kind of [
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Service',
      'Deployment',
      'PodDisruptionBudget',
      'MutatingWebhookConfiguration',
    ]) {
      assert.ok(kinds.has(kind), `${kind} among ${builtIn.map(objectKey).join(', ')}`);
    }
    const { stdout, stderr } = await dryRun(builtIn, name.replaceAll(/\W+/g, '-'));
    assert.equal(stderr, '', 'no warning (unknown or duplicate fields, deprecated APIs)');
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, builtIn.length, stdout);
    for (const line of lines) assert.match(line, /\(server dry run\)$/);
  });
}
