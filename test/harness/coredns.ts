/**
 * Cluster DNS of the lab: the real CoreDNS as a Deployment on the node (manifests/coredns.yaml), behind
 * the `kube-dns` Service at the address the kubelet hands to pods.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api } from '@kubernetes/client-node';
import { defaultBinDir, type ControlPlane } from './control-plane.ts';
import { NODE_NETWORK, readImageIndex, type KubeNode } from './node.ts';
import { waitFor } from './processes.ts';

const run = promisify(execFile);

/** Applies CoreDNS and waits until it is ready. */
export async function startClusterDns(cp: ControlPlane, node: KubeNode): Promise<void> {
  const image = readImageIndex(node.imageIndex)
    .map((i) => i.name)
    .find((n) => n.startsWith('registry.k8s.io/coredns/coredns:'));
  if (image === undefined) throw new Error(`no CoreDNS image in ${node.imageIndex} (run: bash scripts/setup.sh)`);
  const manifest = readFileSync(new URL('manifests/coredns.yaml', import.meta.url), 'utf8')
    .replace('image: IMAGE', `image: ${image}`)
    .replace('clusterIP: CLUSTER_DNS', `clusterIP: ${NODE_NETWORK.clusterDns}`);
  const path = join(cp.dir, 'coredns.yaml');
  writeFileSync(path, manifest);
  await run(join(defaultBinDir(), 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'apply', '-f', path]);
  const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
  await waitFor(
    async () =>
      (await apps.readNamespacedDeployment({ name: 'coredns', namespace: 'kube-system' })).status?.readyReplicas === 1,
    { what: 'CoreDNS ready', timeoutMs: 120_000, intervalMs: 250 },
  );
}
