/**
 * The control plane harness and the kubelet stand-in against the real binaries: the real
 * endpointslice, replicaset and deployment controllers act on pods the stand-in runs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import {
  AppsV1Api, CoreV1Api, DiscoveryV1Api, PatchStrategy, setHeaderOptions,
  type V1EndpointSlice, type V1Pod,
} from '@kubernetes/client-node';
import { defaultBinDir, startControlPlane, type ControlPlane } from './harness/control-plane.ts';
import { startKubelet, type Kubelet } from './harness/kubelet.ts';
import { podReady } from './harness/kubelet-status.ts';
import { pidAlive, waitFor } from './harness/processes.ts';

// The lab network (design.md), never 127.x: kube-apiserver refuses loopback addresses in EndpointSlices.
// The stand-in v1 binds nothing to these addresses, so this file also passes outside scripts/lab.sh.
const POD_NETWORK = '10.244.0.10';
const NODES = ['hps-node-1', 'hps-node-2'];
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const TIMEOUT = 30_000;

let cp: ControlPlane | undefined;
let kubelet: Kubelet | undefined;

before(async () => {
  const began = Date.now();
  cp = await startControlPlane();
  kubelet = await startKubelet(cp.kubeConfig, { nodeNames: NODES, addressBase: POD_NETWORK });
  console.error(`control plane + stand-in ready in ${Date.now() - began} ms (${cp.dir})`);
});

after(async () => {
  await kubelet?.stop();
  await cp?.stop();
});

function clients(): { core: CoreV1Api; apps: AppsV1Api; discovery: DiscoveryV1Api } {
  assert.ok(cp, 'control plane not started');
  return {
    core: cp.kubeConfig.makeApiClient(CoreV1Api),
    apps: cp.kubeConfig.makeApiClient(AppsV1Api),
    discovery: cp.kubeConfig.makeApiClient(DiscoveryV1Api),
  };
}

const running = (p: V1Pod): boolean => p.status?.phase === 'Running' && podReady(p) && !!p.status.podIP;

function pod(namespace: string, name: string, labels: Record<string, string>): V1Pod {
  return {
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', ports: [{ containerPort: 8080 }] }] },
  };
}

/** The slices the real endpointslice controller wrote for `service`. */
async function controllerSlices(discovery: DiscoveryV1Api, namespace: string, service: string): Promise<V1EndpointSlice[]> {
  const list = await discovery.listNamespacedEndpointSlice({
    namespace,
    labelSelector: `kubernetes.io/service-name=${service},endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io`,
  });
  return list.items;
}

function endpointsByAddress(slices: V1EndpointSlice[]): Map<string, { ready: boolean; serving: boolean; terminating: boolean; pod: string }> {
  const out = new Map<string, { ready: boolean; serving: boolean; terminating: boolean; pod: string }>();
  for (const s of slices) {
    for (const e of s.endpoints ?? []) {
      for (const a of e.addresses) {
        out.set(a, {
          ready: e.conditions?.ready === true,
          serving: e.conditions?.serving === true,
          terminating: e.conditions?.terminating === true,
          pod: e.targetRef?.name ?? '',
        });
      }
    }
  }
  return out;
}

test('a Service over three stand-in pods gets an EndpointSlice from the real controller; a deleted pod leaves it', async () => {
  const { core, discovery } = clients();
  const ns = 'slices';
  await cp!.createNamespace(ns);
  await core.createNamespacedService({ namespace: ns, body: {
    metadata: { name: 'echo' },
    spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  } });
  const names = ['echo-0', 'echo-1', 'echo-2'];
  for (const name of names) await core.createNamespacedPod({ namespace: ns, body: pod(ns, name, { app: 'echo' }) });

  const pods = await waitFor(async () => {
    const list = (await core.listNamespacedPod({ namespace: ns })).items;
    return list.length === 3 && list.every(running) ? list : undefined;
  }, { what: 'three Running+Ready pods', timeoutMs: TIMEOUT });
  const ips = pods.map((p) => p.status?.podIP ?? '');
  assert.equal(new Set(ips).size, 3, `distinct pod IPs: ${ips.join(', ')}`);
  for (const p of pods) {
    assert.ok(NODES.includes(p.spec?.nodeName ?? ''), `${p.metadata?.name} bound to a stand-in node`);
    assert.deepEqual(p.status?.podIPs?.map((x) => x.ip), [p.status?.podIP]);
    assert.equal(kubelet!.addressOf(ns, p.metadata?.name ?? ''), p.status?.podIP);
  }

  const all = await waitFor(async () => {
    const eps = endpointsByAddress(await controllerSlices(discovery, ns, 'echo'));
    return eps.size === 3 && [...eps.values()].every((e) => e.ready && e.serving) ? eps : undefined;
  }, { what: 'an EndpointSlice with three ready endpoints', timeoutMs: TIMEOUT });
  assert.deepEqual([...all.keys()].sort(), [...ips].sort());

  // Ready follows the stand-in's setReady; `serving` follows Ready for a pod that is not terminating.
  await kubelet!.setReady(ns, 'echo-1', false);
  const ip1 = pods.find((p) => p.metadata?.name === 'echo-1')?.status?.podIP ?? '';
  await waitFor(async () => {
    const e = endpointsByAddress(await controllerSlices(discovery, ns, 'echo')).get(ip1);
    return e !== undefined && !e.ready && !e.serving;
  }, { what: 'echo-1 not ready in the slice', timeoutMs: TIMEOUT });
  await kubelet!.setReady(ns, 'echo-1', true);

  const ip2 = pods.find((p) => p.metadata?.name === 'echo-2')?.status?.podIP ?? '';
  await core.deleteNamespacedPod({ namespace: ns, name: 'echo-2' });
  const rest = await waitFor(async () => {
    const eps = endpointsByAddress(await controllerSlices(discovery, ns, 'echo'));
    return eps.size === 2 && !eps.has(ip2) && [...eps.values()].every((e) => e.ready) ? eps : undefined;
  }, { what: 'the slice without echo-2', timeoutMs: TIMEOUT });
  assert.deepEqual([...rest.values()].map((e) => e.pod).sort(), ['echo-0', 'echo-1']);
  // The stand-in finished the graceful deletion (grace period 0): the pod object is gone.
  await waitFor(async () => {
    try {
      await core.readNamespacedPod({ namespace: ns, name: 'echo-2' });
      return false;
    } catch (err) {
      return (err as { code?: number }).code === 404;
    }
  }, { what: 'echo-2 removed from the API', timeoutMs: TIMEOUT });
});

test('a Deployment of 3 gets 3 Running+Ready pods from the real controllers; scaled to 5 it gets 5', async () => {
  const { core, apps } = clients();
  const ns = 'deploy';
  await cp!.createNamespace(ns);
  await apps.createNamespacedDeployment({ namespace: ns, body: {
    metadata: { name: 'web' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: pod(ns, 'unused', {}).spec! },
    },
  } });

  const settled = (want: number) => async (): Promise<V1Pod[] | undefined> => {
    const dep = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
    const list = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items;
    const ok = dep.status?.readyReplicas === want && dep.status.availableReplicas === want
      && list.length === want && list.every(running);
    return ok ? list : undefined;
  };
  const three = await waitFor(settled(3), { what: 'deployment web with 3 ready replicas', timeoutMs: TIMEOUT });
  assert.ok(three.every((p) => p.metadata?.ownerReferences?.[0]?.kind === 'ReplicaSet'), 'pods come from a ReplicaSet');

  await apps.patchNamespacedDeploymentScale({ namespace: ns, name: 'web', body: { spec: { replicas: 5 } } }, MERGE_PATCH);
  const five = await waitFor(settled(5), { what: 'deployment web with 5 ready replicas', timeoutMs: TIMEOUT });
  assert.equal(new Set(five.map((p) => p.status?.podIP)).size, 5, 'five distinct pod IPs');
  assert.deepEqual([...new Set(five.map((p) => p.spec?.nodeName))].sort(), NODES, 'pods spread over both nodes');
});

test('kubectl (pinned) works with the kubeconfig file', async () => {
  assert.ok(cp);
  const kubectl = join(defaultBinDir(), 'kubectl');
  assert.ok(existsSync(kubectl), `kubectl is missing at ${kubectl} (run: bash scripts/setup.sh)`);
  const run = promisify(execFile);
  const nodes = await run(kubectl, ['--kubeconfig', cp.kubeconfigPath, 'get', 'nodes', '--no-headers']);
  for (const n of NODES) assert.match(nodes.stdout, new RegExp(`^${n}\\s+Ready\\s`, 'm'));
  const version = JSON.parse((await run(kubectl, ['--kubeconfig', cp.kubeconfigPath, 'version', '-o', 'json'])).stdout) as {
    clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string };
  };
  assert.match(version.serverVersion.gitVersion, /^v1\.(3[4-9]|[4-9]\d)\./);
  assert.match(version.clientVersion.gitVersion, /^v1\./);
});

test('the stand-in hooks: onPodBound once with the address, readiness decides Ready, onPodDeleting once', async () => {
  const { core } = clients();
  const bound: string[] = [];
  const deleting: string[] = [];
  let probeOk = false;
  // A second stand-in with its own node; the pod selects that node, so the first stand-in leaves it alone.
  const second = await startKubelet(cp!.kubeConfig, {
    nodeNames: ['hook-node'],
    addressBase: '10.244.1.10',
    resyncIntervalMs: 200,
    onPodBound: (p, ip) => { bound.push(`${p.metadata?.name}@${ip}`); },
    onPodDeleting: (p) => { deleting.push(p.metadata?.name ?? ''); },
    readiness: () => probeOk,
  });
  try {
    const body = pod('default', 'hooked', { app: 'hooked' });
    body.spec!.nodeSelector = { 'kubernetes.io/hostname': 'hook-node' };
    await core.createNamespacedPod({ namespace: 'default', body });
    const notReady = await waitFor(async () => {
      const p = await core.readNamespacedPod({ namespace: 'default', name: 'hooked' });
      return p.status?.phase === 'Running' && !podReady(p) ? p : undefined;
    }, { what: 'hooked Running but not Ready', timeoutMs: TIMEOUT });
    assert.equal(notReady.spec?.nodeName, 'hook-node');
    assert.equal(notReady.status?.podIP, '10.244.1.10');
    assert.deepEqual(bound, ['hooked@10.244.1.10']);

    probeOk = true;
    await waitFor(async () => podReady(await core.readNamespacedPod({ namespace: 'default', name: 'hooked' })),
      { what: 'hooked Ready once readiness() says so', timeoutMs: TIMEOUT });

    await core.deleteNamespacedPod({ namespace: 'default', name: 'hooked' });
    await waitFor(() => second.pods.get('hooked', 'default') === undefined, { what: 'hooked deleted', timeoutMs: TIMEOUT });
    assert.deepEqual(deleting, ['hooked']);
    assert.deepEqual(bound, ['hooked@10.244.1.10'], 'onPodBound ran once');
    assert.equal(second.addressOf('default', 'hooked'), undefined, 'address freed');
  } finally {
    await second.stop();
  }
});

test('after an apiserver restart the stand-in still runs new pods (its watch recovers)', async () => {
  const { core } = clients();
  await cp!.restartApiserver();
  await core.createNamespacedPod({ namespace: 'default', body: pod('default', 'after-restart', { app: 'restart' }) });
  const p = await waitFor(async () => {
    const got = await core.readNamespacedPod({ namespace: 'default', name: 'after-restart' });
    return running(got) ? got : undefined;
  }, { what: 'a pod created after the restart to run', timeoutMs: TIMEOUT });
  assert.ok(p.status?.podIP);
});

test('stop() leaves no etcd, kube-apiserver or kube-controller-manager process behind', async () => {
  assert.ok(cp && kubelet);
  const pids = cp.pids();
  assert.ok(pids.length >= 3, `pids recorded: ${pids.join(', ')}`);
  assert.ok(pids.some(pidAlive), 'the processes run before stop()');
  await kubelet.stop();
  await cp.stop();
  await cp.stop(); // idempotent
  assert.deepEqual(pids.filter(pidAlive), [], 'no process of this control plane survives stop()');
  assert.equal(existsSync(cp.dir), false, 'temp dir removed');
});
