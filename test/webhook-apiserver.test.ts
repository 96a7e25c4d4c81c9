/**
 * The webhook called by the REAL kube-apiserver. The test starts a control plane (test/harness), the
 * webhook on 127.0.0.1 with a key pair from certs/ (generated and stored in a real Secret by
 * SecretKeyPairSource), and registers it twice (objectSelector on the label, and a second registration
 * without one, so unlabelled pods reach the handler too) with a caBundle from certs/. Pods are
 * created through the apiserver: directly, by the real Deployment/ReplicaSet controllers, and with
 * `kubectl create --dry-run=server`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import YAML from 'yaml';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { defaultBinDir, startControlPlane, type ControlPlane } from './harness/control-plane.ts';
import { waitFor } from './harness/processes.ts';
import { build, listen } from '../webhook/server.ts';
import { SecretKeyPairSource } from '../certs/secret-source.ts';
import { kubeSecretStore } from '../certs/kube-clients.ts';
import { cachedAccessWarnings } from '../webhook/access-warnings.ts';
import { kubeAccessReviewer } from '../webhook/kube-access-reviewer.ts';
import { silentLogger, TEST_CONFIG } from './support/webhook.ts';
import { mutatingWebhookConfiguration, WEBHOOK_NAME } from './support/registration.ts';

const exec = promisify(execFile);
const NS = 'hps-webhook-test';
const LABEL = 'haproxy-peer-sync.io/inject';
const TIMEOUT = 30_000;

let cp: ControlPlane | undefined;
let app: FastifyInstance | undefined;
let source: SecretKeyPairSource | undefined;
let workDir = '';
let core: CoreV1Api;
let apps: AppsV1Api;

before(async () => {
  cp = await startControlPlane();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  apps = cp.kubeConfig.makeApiClient(AppsV1Api);
  workDir = await mkdtemp(join(tmpdir(), 'hps-webhook-apiserver-'));
  await cp.createNamespace(NS, { 'hps-test': 'webhook' });
  await cp.createNamespace('hps-webhook-system');

  // certs/: a CA and a serving pair for 127.0.0.1, created in (and shared through) a real Secret.
  source = new SecretKeyPairSource({
    store: kubeSecretStore(cp.kubeConfig, 'hps-webhook-system', 'hps-webhook-tls'),
    hosts: ['127.0.0.1'],
  });
  await source.start();
  app = await build({
    config: TEST_CONFIG,
    logger: silentLogger(),
    keyPairs: source,
    accessWarnings: cachedAccessWarnings({
      reviewer: kubeAccessReviewer(cp.kubeConfig),
      ttlMs: 60_000,
      timeoutMs: 5_000,
      now: Date.now,
    }),
  });
  const { port } = await listen(app, { host: '127.0.0.1', port: 0 });

  // Registered twice: with the objectSelector (as deploy/ does), and without one, so that unlabelled
  // pods reach the handler too and every labelled pod is seen by two webhooks.
  const caBundle = Buffer.from(source.current()?.caPem ?? '').toString('base64');
  const registration = (name: string, webhookName: string, objectSelector: boolean) =>
    mutatingWebhookConfiguration({
      name,
      webhookName,
      objectSelector,
      caBundle,
      target: { url: `https://127.0.0.1:${port}/mutate` },
      namespaceLabels: { 'hps-test': 'webhook' },
    });
  const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  await admission.createMutatingWebhookConfiguration({ body: registration('haproxy-peer-sync', WEBHOOK_NAME, true) });
  await admission.createMutatingWebhookConfiguration({
    body: registration('haproxy-peer-sync-second', 'inject-again.haproxy-peer-sync.io', false),
  });

  // The apiserver loads webhook configurations asynchronously: wait until both registrations answer
  // (a dry-run labelled pod comes back injected; a dry-run unlabelled pod reaches the handler).
  await waitFor(
    async () => {
      const created = await core.createNamespacedPod({ namespace: NS, body: labelledPod('probe'), dryRun: 'All' });
      return isInjected(created);
    },
    { what: 'the first webhook registration to take effect', timeoutMs: TIMEOUT },
  );
  await waitFor(
    async () => {
      const body: V1Pod = {
        metadata: { name: 'probe-unlabelled', namespace: NS },
        spec: { containers: [{ name: 'c', image: 'haproxy:3.0' }] },
      };
      await core.createNamespacedPod({ namespace: NS, body, dryRun: 'All' });
      return (await metric('haproxy_peer_sync_webhook_skipped_total{reason="not-labelled"}')) > 0;
    },
    { what: 'the second webhook registration to take effect', timeoutMs: TIMEOUT },
  );
});

after(async () => {
  await app?.close();
  await source?.stop();
  await cp?.stop();
  if (workDir !== '') await rm(workDir, { recursive: true, force: true });
});

function labelledPod(name: string, annotations: Record<string, string> = {}, spec: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: 'haproxy', [LABEL]: 'true' }, annotations },
    spec: { containers: [{ name: 'haproxy', image: 'haproxy:3.0' }], ...spec },
  };
}

function isInjected(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.['haproxy-peer-sync.io/status'] !== undefined;
}

function ourContainers(pod: V1Pod): string[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]
    .map((c) => c.name)
    .filter((n) => n.startsWith('haproxy-peer-sync'));
}

async function metric(name: string): Promise<number> {
  const text = (await app!.inject('/metrics')).body;
  return [...text.matchAll(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'gm'))].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

async function kubectl(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await exec(join(defaultBinDir(), 'kubectl'), [
      '--kubeconfig',
      cp!.kubeconfigPath,
      ...args,
    ]);
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code ?? 1 };
  }
}

test('a labelled pod created through the apiserver comes back injected, once, through two registrations', async () => {
  const before = await metric('haproxy_peer_sync_webhook_skipped_total{reason="already-injected"}');
  const pod = await core.createNamespacedPod({ namespace: NS, body: labelledPod('haproxy-0') });
  assert.ok(isInjected(pod));
  assert.deepEqual(
    ourContainers(pod),
    ['haproxy-peer-sync-init', 'haproxy-peer-sync'],
    'exactly one init container and one syncer',
  );
  assert.equal(pod.spec?.initContainers?.[1]?.restartPolicy, 'Always', 'a native sidecar');
  assert.equal(pod.spec?.volumes?.filter((v) => v.name === 'haproxy-peer-sync').length, 1);
  assert.deepEqual(pod.spec?.containers[0]?.command, [
    'haproxy',
    '-W',
    '-db',
    '-S',
    '/var/run/haproxy-peer-sync/master.sock,mode,660,gid,65532',
    '-f',
    '/usr/local/etc/haproxy/haproxy.cfg',
    '-f',
    '/var/run/haproxy-peer-sync/peers.cfg',
  ]);
  // The group that owns the master socket, for every container of the pod.
  assert.ok(pod.spec?.securityContext?.supplementalGroups?.includes(65532), 'the shared group');
  assert.ok(pod.spec?.containers[0]?.volumeMounts?.some((m) => m.mountPath === '/var/run/haproxy-peer-sync'));
  // The second registration (and any reinvocation) reached the handler and left the pod alone.
  assert.ok((await metric('haproxy_peer_sync_webhook_skipped_total{reason="already-injected"}')) > before);
  const stored = await core.readNamespacedPod({ namespace: NS, name: 'haproxy-0' });
  assert.deepEqual(ourContainers(stored), ['haproxy-peer-sync-init', 'haproxy-peer-sync']);
});

test('an unlabelled pod comes back unchanged (the handler checks the label too)', async () => {
  const before = await metric('haproxy_peer_sync_webhook_skipped_total{reason="not-labelled"}');
  const body: V1Pod = {
    metadata: {
      name: 'plain',
      namespace: NS,
      labels: { app: 'haproxy' },
      annotations: { 'haproxy-peer-sync.io/peer-port': 'abc' },
    },
    spec: { containers: [{ name: 'haproxy', image: 'haproxy:3.0' }] },
  };
  const pod = await core.createNamespacedPod({ namespace: NS, body });
  assert.ok(!isInjected(pod));
  assert.deepEqual(ourContainers(pod), []);
  assert.equal(pod.spec?.initContainers, undefined);
  assert.equal(pod.spec?.containers[0]?.command, undefined);
  assert.ok(
    (await metric('haproxy_peer_sync_webhook_skipped_total{reason="not-labelled"}')) > before,
    'the registration without objectSelector called the handler',
  );
});

test('a pod with a generated name is injected', async () => {
  const body = labelledPod('');
  delete body.metadata!.name;
  body.metadata!.generateName = 'haproxy-';
  const pod = await core.createNamespacedPod({ namespace: NS, body });
  assert.match(pod.metadata?.name ?? '', /^haproxy-/);
  assert.ok(isInjected(pod));
});

test("an invalid override annotation is rejected with the webhook's message", async () => {
  const statusMessage = (err: unknown): string => {
    const body = (err as { body?: unknown }).body;
    try {
      return (JSON.parse(String(body)) as { message: string }).message;
    } catch {
      return String(body ?? err);
    }
  };
  await assert.rejects(
    core.createNamespacedPod({
      namespace: NS,
      body: labelledPod('bad-port', { 'haproxy-peer-sync.io/peer-port': 'abc' }),
    }),
    (err: unknown) => {
      assert.equal((err as { code?: number }).code, 403);
      assert.equal(
        statusMessage(err),
        'admission webhook "inject.haproxy-peer-sync.io" denied the request: haproxy-peer-sync cannot inject this pod: annotation haproxy-peer-sync.io/peer-port: "abc" is not a port number (1-65535)',
      );
      return true;
    },
  );
  await assert.rejects(
    core.createNamespacedPod({
      namespace: NS,
      body: labelledPod('bad-container', { 'haproxy-peer-sync.io/container': 'proxy' }),
    }),
    (err: unknown) =>
      /annotation haproxy-peer-sync\.io\/container: no container named "proxy"/.test(statusMessage(err)),
  );
  await assert.rejects(
    core.readNamespacedPod({ namespace: NS, name: 'bad-port' }),
    (err: unknown) => (err as { code?: number }).code === 404,
  );
});

test('every pod of a labelled Deployment, made by the real controllers, is injected', async () => {
  const labels = { app: 'edge', [LABEL]: 'true' };
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'edge', namespace: NS },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'edge' } },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              { name: 'haproxy', image: 'haproxy:3.0', args: ['haproxy', '-f', '/etc/haproxy/haproxy.cfg'] },
            ],
          },
        },
      },
    },
  });
  const pods = await waitFor(
    async () => {
      const list = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=edge' });
      return list.items.length === 3 ? list.items : undefined;
    },
    { what: 'the ReplicaSet controller to create 3 pods', timeoutMs: TIMEOUT },
  );
  for (const pod of pods) {
    assert.ok(isInjected(pod), pod.metadata?.name);
    assert.deepEqual(ourContainers(pod), ['haproxy-peer-sync-init', 'haproxy-peer-sync']);
    assert.deepEqual(pod.spec?.containers[0]?.args, [
      'haproxy',
      '-f',
      '/etc/haproxy/haproxy.cfg',
      '-W',
      '-db',
      '-S',
      '/var/run/haproxy-peer-sync/master.sock,mode,660,gid,65532',
      '-f',
      '/var/run/haproxy-peer-sync/peers.cfg',
    ]);
    assert.equal(pod.spec?.initContainers?.[1]?.env?.find((e) => e.name === 'HPS_SERVICE')?.value, 'edge');
  }
});

test('kubectl create --dry-run=server shows the injection, warns about RBAC, and creates nothing', async () => {
  const file = join(workDir, 'dry-run.yaml');
  await writeFile(file, YAML.stringify(labelledPod('dry-run')));
  const res = await kubectl(['create', '--dry-run=server', '-o', 'yaml', '-f', file]);
  assert.equal(res.code, 0, res.stderr);
  const pod = YAML.parse(res.stdout) as V1Pod;
  assert.ok(isInjected(pod));
  assert.deepEqual(ourContainers(pod), ['haproxy-peer-sync-init', 'haproxy-peer-sync']);
  // The `default` ServiceAccount has no Role: the SubjectAccessReview warning reaches the user.
  assert.match(
    res.stderr,
    /Warning: ServiceAccount hps-webhook-test\/default may not list or watch endpointslices\.discovery\.k8s\.io/,
  );
  const get = await kubectl(['get', 'pod', 'dry-run', '-n', NS]);
  assert.notEqual(get.code, 0);
  assert.match(get.stderr, /NotFound|not found/);
});

test('a ServiceAccount allowed to watch EndpointSlices gets no warning', async () => {
  const rbac = cp!.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'haproxy' } } });
  await rbac.createNamespacedRole({
    namespace: NS,
    body: {
      metadata: { name: 'haproxy-peer-sync' },
      rules: [{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: NS,
    body: {
      metadata: { name: 'haproxy-peer-sync' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'haproxy-peer-sync' },
      subjects: [{ kind: 'ServiceAccount', name: 'haproxy', namespace: NS }],
    },
  });
  const file = join(workDir, 'with-rbac.yaml');
  await writeFile(file, YAML.stringify(labelledPod('with-rbac', {}, { serviceAccountName: 'haproxy' })));
  const res = await kubectl(['create', '--dry-run=server', '-o', 'yaml', '-f', file]);
  assert.equal(res.code, 0, res.stderr);
  assert.ok(isInjected(YAML.parse(res.stdout) as V1Pod));
  assert.doesNotMatch(res.stderr, /Warning/);
});

test('every golden injected pod is accepted by the real apiserver', async () => {
  const dir = new URL('../webhook/testdata/', import.meta.url);
  const goldens = (await readdir(dir)).filter((f) => f.endsWith('.injected.yaml'));
  assert.ok(goldens.length >= 5);
  for (const file of goldens) {
    const pod = YAML.parse(await readFile(new URL(file, dir), 'utf8')) as V1Pod;
    // Unique names: the pods created by the tests above may use the same ones.
    pod.metadata = { ...pod.metadata, namespace: NS, name: `golden-${file.slice(0, -'.injected.yaml'.length)}` };
    delete pod.metadata.generateName;
    const created = await core
      .createNamespacedPod({ namespace: NS, body: pod, dryRun: 'All' })
      .catch((err: unknown) => {
        assert.fail(`${file} was refused: ${String((err as { body?: unknown }).body ?? err)}`);
      });
    // Already injected: the webhook left it alone, and validation kept every injected field.
    assert.deepEqual(ourContainers(created), ['haproxy-peer-sync-init', 'haproxy-peer-sync'], file);
    assert.deepEqual(created.metadata?.annotations, pod.metadata?.annotations, file);
  }
});
