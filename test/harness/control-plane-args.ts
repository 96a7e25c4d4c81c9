/**
 * Command lines of etcd, kube-apiserver and kube-controller-manager, and the admin kubeconfig: pure
 * functions of the chosen ports and PKI, so the flags are readable in one place.
 */
import { stringify } from 'yaml';
import type { Pki } from './pki.ts';

/** The controllers the product relies on, plus the few that keep namespaces and service accounts usable. */
export const DEFAULT_CONTROLLERS: readonly string[] = [
  'endpointslice-controller',
  'replicaset-controller',
  'deployment-controller',
  'statefulset-controller',
  // Owner references: deleting a Deployment removes its ReplicaSets and pods.
  'garbage-collector-controller',
  // Deleting a namespace empties and removes it; tests clean up that way.
  'namespace-controller',
  // ServiceAccount admission stays on (real clusters run it): every pod needs its namespace's `default`
  // ServiceAccount, which this controller creates, and the `kube-root-ca.crt` ConfigMap its projected
  // token volume names, which the publisher creates. Tokens themselves come from the apiserver's
  // TokenRequest API, signed with the PKI's service-account key.
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  // Lets tests bind the aggregated `view`/`edit` ClusterRoles to a syncer's ServiceAccount.
  'clusterrole-aggregation-controller',
];

/** Ports chosen for one control plane. */
export interface ControlPlanePorts {
  readonly etcdClient: number;
  readonly etcdPeer: number;
  readonly apiserver: number;
  readonly controllerManager: number;
}

/** etcd as a single member with its data under `dataDir`; fsync off because the data is throwaway. */
export function etcdArgs(ports: ControlPlanePorts, dataDir: string): string[] {
  const client = `http://127.0.0.1:${ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  return [
    '--name=default',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

/** What kube-apiserver needs besides ports and PKI. */
export interface ApiserverSettings {
  readonly serviceClusterIpRange: string;
  readonly serviceAccountIssuer: string;
  readonly extraArgs: readonly string[];
  /**
   * The lab node's address (scripts/lab.sh): the apiserver then listens on every lab address, publishes
   * this one as the `kubernetes` Service's endpoint (pods reach it through kube-proxy), authorizes
   * kubelets as nodes, and reaches them by address for logs, exec and port-forward.
   */
  readonly nodeIp?: string | undefined;
}

/**
 * kube-apiserver flags after envtest's (minus `--disable-admission-plugins=ServiceAccount`: we run the
 * serviceaccount controller instead, so pods look as they do in a real cluster). The default admission
 * set includes MutatingAdmissionWebhook. Never `--insecure-port` (removed in 1.24).
 * https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/
 */
export function apiserverArgs(ports: ControlPlanePorts, pki: Pki, s: ApiserverSettings): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
    `--secure-port=${ports.apiserver}`,
    ...(s.nodeIp === undefined
      ? ['--bind-address=127.0.0.1', '--advertise-address=127.0.0.1']
      : [
          '--bind-address=0.0.0.0',
          `--advertise-address=${s.nodeIp}`,
          `--kubelet-client-certificate=${pki.admin.cert}`,
          `--kubelet-client-key=${pki.admin.key}`,
          // The node's name resolves nowhere in the lab; its InternalIP does.
          '--kubelet-preferred-address-types=InternalIP',
        ]),
    `--tls-cert-file=${pki.apiserverServing.cert}`,
    `--tls-private-key-file=${pki.apiserverServing.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    '--authorization-mode=Node,RBAC',
    `--service-cluster-ip-range=${s.serviceClusterIpRange}`,
    '--allow-privileged=true',
    `--service-account-issuer=${s.serviceAccountIssuer}`,
    `--service-account-key-file=${pki.serviceAccountPublicKey}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    // Without a node the lease reconciler would publish 127.0.0.1 as the `kubernetes` Service's
    // endpoint, which validation rejects (loopback) every 10 s; nothing reaches the apiserver through it.
    ...(s.nodeIp === undefined ? ['--endpoint-reconciler-type=none'] : []),
    // On SIGTERM, close open watches within 1 s instead of waiting for clients to hang up: stop() and
    // restartApiserver() otherwise wait out the kill timeout while the controller-manager watches.
    '--shutdown-watch-termination-grace-period=1s',
    ...s.extraArgs,
  ];
}

/** kube-controller-manager flags: no leader election (one instance), our CA for its serving cert. */
export function controllerManagerArgs(
  ports: ControlPlanePorts,
  pki: Pki,
  kubeconfigPath: string,
  controllers: readonly string[],
  extraArgs: readonly string[],
): string[] {
  return [
    `--kubeconfig=${kubeconfigPath}`,
    // No --authentication/--authorization-kubeconfig: /healthz is on the always-allowed paths, and
    // delegated authn would demand a front-proxy CA the lab does not need.
    '--leader-elect=false',
    `--controllers=${controllers.join(',')}`,
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--root-ca-file=${pki.ca.cert}`,
    `--secure-port=${ports.controllerManager}`,
    '--bind-address=127.0.0.1',
    `--tls-cert-file=${pki.controllerManagerServing.cert}`,
    `--tls-private-key-file=${pki.controllerManagerServing.key}`,
    ...extraArgs,
  ];
}

/**
 * A kubeconfig (YAML) with the CA and a client cert inlined, usable by kubectl and client-node: the
 * admin's by default, or a node component's.
 */
export function adminKubeconfig(
  server: string,
  pems: { ca: string; cert: string; key: string },
  user = 'hps-admin',
): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'hps-test', cluster: { server, 'certificate-authority-data': b64(pems.ca) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(pems.cert), 'client-key-data': b64(pems.key) } }],
    contexts: [{ name: 'hps-test', context: { cluster: 'hps-test', user, namespace: 'default' } }],
    'current-context': 'hps-test',
  });
}
