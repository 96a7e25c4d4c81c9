import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { createLogger, type Logger } from '../../common/logger.ts';
import { socketCommand } from '../../syncer/haproxy-socket.ts';
import { parseShowPeers } from '../../syncer/show-peers.ts';
import { parseShowProc } from '../../syncer/show-proc.ts';
import { startClusterDns, type ClusterDns } from './cluster-dns.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { startKubelet, type Kubelet } from './kubelet.ts';
import { kubeAccessFromKubeConfig, objectSourceFromKube, startPod, type PodHandle } from './pod-runner.ts';
import { waitFor } from './processes.ts';

const run = promisify(execFile);
export const REPO_ROOT = new URL('../../', import.meta.url).pathname;
/** The volume the webhook injects, where HAProxy's master socket lives (docs/design.md). */
export const RUNTIME_VOLUME = 'haproxy-peer-sync';
export const EXAMPLE_NAMESPACE = 'default';
export const EXAMPLE_TABLE = 'sessions';
export const EXAMPLE_SELECTOR = 'app.kubernetes.io/name=haproxy';

/** One HAProxy replica of the example, as read from its master socket. */
export interface ReplicaState {
  readonly pod: string;
  readonly ip: string;
  readonly ready: boolean;
  readonly terminating: boolean;
  readonly peers: { name: string; local: boolean; status: string }[] | undefined;
  readonly tableEntries: number | undefined;
  readonly reloads: number | undefined;
}

export interface Sandbox {
  readonly controlPlane: ControlPlane;
  readonly kubelet: Kubelet;
  readonly dir: string;
  /** Runs the pinned kubectl against the sandbox; resolves with stdout, rejects with stderr. */
  kubectl(...args: string[]): Promise<string>;
  /** `kubectl apply -k deploy/`, then waits until both webhook replicas serve and the caBundle is set. */
  installWebhook(): Promise<void>;
  /** `kubectl apply` of examples/ (sticky backend, HAProxy, front load balancer). */
  applyExamples(): Promise<void>;
  /** The pod handle that runs a pod's containers (undefined before it is bound). */
  handle(namespace: string, name: string): PodHandle | undefined;
  /** Sends a command to the HAProxy master CLI of a pod (e.g. `@1 show peers`). */
  masterCli(namespace: string, name: string, command: string): Promise<string>;
  /** Every live (not yet deleted) HAProxy pod of the example with its peers, table size and reloads. */
  replicas(namespace?: string, selector?: string): Promise<ReplicaState[]>;
  stop(): Promise<void>;
}

export interface SandboxOptions {
  readonly nodes?: number;
  readonly logger?: Logger;
}

/**
 * The whole product on one machine: the real control plane, the cluster-DNS stand-in and the kubelet
 * stand-in running every bound pod's containers (as admitted, so what the webhook injected is what
 * runs), each pod in its own network namespace. Needs the lab network namespace (scripts/lab.sh).
 * The apiserver reaches webhooks at their endpoints (--enable-aggregator-routing), as there is no
 * kube-proxy to route a Service's ClusterIP.
 */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const log = opts.logger ?? createLogger('sandbox', 'warn', pino.destination(2));
  const dir = mkdtempSync(join(tmpdir(), 'hps-sandbox-'));
  const handles = new Map<string, PodHandle>();
  const key = (namespace: string, name: string): string => `${namespace}/${name}`;
  let controlPlane: ControlPlane | undefined;
  let dns: ClusterDns | undefined;
  let kubelet: Kubelet | undefined;

  const stop = async (): Promise<void> => {
    await kubelet?.stop();
    await Promise.allSettled([...handles.values()].map((h) => h.stop(1)));
    handles.clear();
    await dns?.stop();
    await controlPlane?.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    controlPlane = await startControlPlane({ apiserverArgs: ['--enable-aggregator-routing=true'] });
    const cp = controlPlane;
    dns = await startClusterDns(cp.kubeConfig);
    const clusterDns = dns;
    const kube = await kubeAccessFromKubeConfig(cp.kubeConfig);
    const objects = objectSourceFromKube(cp.kubeConfig);
    kubelet = await startKubelet(cp.kubeConfig, {
      nodeNames: Array.from({ length: opts.nodes ?? 1 }, (_, i) => `hps-node-${i + 1}`),
      onPodBound: (pod: V1Pod, ip: string) => {
        const namespace = pod.metadata?.namespace ?? 'default';
        handles.set(key(namespace, pod.metadata?.name ?? ''), startPod(pod, {
          ip, workDir: join(dir, 'pods'), logDir: join(dir, 'logs'), kube, objects, network: 'pod',
          resolvConf: clusterDns.resolvConf(namespace), logger: log,
        }));
      },
      readiness: (pod: V1Pod) => handles.get(key(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''))?.ready() ?? false,
      onPodDeleting: async (pod: V1Pod) => {
        const k = key(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
        await handles.get(k)?.stop(pod.metadata?.deletionGracePeriodSeconds ?? 30);
        handles.delete(k);
      },
      logger: log,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const cp = controlPlane;
  const kubeletReady = kubelet;

  const kubectl = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await run(join(process.env.HPS_BIN ?? join(process.env.HOME ?? '', '.cache/haproxy-peer-sync/bin'), 'kubectl'),
        ['--kubeconfig', cp.kubeconfigPath, ...args], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  };

  const masterCli = (namespace: string, name: string, command: string): Promise<string> => {
    const volume = handles.get(key(namespace, name))?.volumePath(RUNTIME_VOLUME);
    if (volume === undefined) return Promise.reject(new Error(`${namespace}/${name} has no ${RUNTIME_VOLUME} volume running`));
    return socketCommand(join(volume, 'master.sock'), command, 2000);
  };

  const replicaState = async (pod: V1Pod): Promise<ReplicaState> => {
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const cli = (c: string): Promise<string | undefined> => masterCli(namespace, name, c).catch(() => undefined);
    const [peersText, tableText, procText] = await Promise.all([cli('@1 show peers'), cli(`@1 show table ${EXAMPLE_TABLE}`), cli('show proc')]);
    const section = peersText === undefined ? undefined : parseShowPeers(peersText)[0];
    const used = tableText === undefined ? undefined : /used:(\d+)/.exec(tableText)?.[1];
    return {
      pod: name,
      ip: pod.status?.podIP ?? '',
      ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      terminating: pod.metadata?.deletionTimestamp !== undefined,
      peers: section?.peers.map((p) => ({ name: p.name, local: p.local, status: p.lastStatus })),
      tableEntries: used === undefined ? undefined : Number(used),
      reloads: procText === undefined ? undefined : parseShowProc(procText)?.reloads,
    };
  };

  return {
    controlPlane: cp,
    kubelet: kubeletReady,
    dir,
    kubectl,
    async installWebhook() {
      await kubectl('apply', '-k', 'deploy/');
      await kubectl('-n', 'haproxy-peer-sync-system', 'rollout', 'status', 'deployment/haproxy-peer-sync-webhook', '--timeout=120s');
      const admission = cp.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
      await waitFor(async () => {
        const mwc = await admission.readMutatingWebhookConfiguration({ name: 'haproxy-peer-sync' });
        return (mwc.webhooks?.[0]?.clientConfig.caBundle ?? '') !== '';
      }, { what: 'the webhook to publish its caBundle', timeoutMs: 60_000 });
    },
    async applyExamples() {
      await kubectl('apply', '-f', 'examples/sticky-backend.yaml', '-f', 'examples/haproxy.yaml', '-f', 'examples/lb.yaml');
    },
    handle: (namespace, name) => handles.get(key(namespace, name)),
    masterCli,
    async replicas(namespace = EXAMPLE_NAMESPACE, selector = EXAMPLE_SELECTOR) {
      const core = cp.kubeConfig.makeApiClient(k8s.CoreV1Api);
      const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
      return Promise.all(pods.items.filter((p) => p.status?.podIP).map(replicaState));
    },
    stop,
  };
}
