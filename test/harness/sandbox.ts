import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { socketCommand } from '../../syncer/haproxy-socket.ts';
import { parseShowPeers } from '../../syncer/show-peers.ts';
import { parseShowProc } from '../../syncer/show-proc.ts';
import { DEFAULT_CONTROLLERS } from './control-plane-args.ts';
import { defaultBinDir, startControlPlane, type ControlPlane } from './control-plane.ts';
import { startClusterDns } from './coredns.ts';
import { startNode, type KubeNode } from './node.ts';
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
  readonly node: KubeNode;
  /** Logs of every process (control plane, node daemons). */
  readonly dir: string;
  /** Runs the pinned kubectl against the sandbox; resolves with stdout, rejects with stderr. */
  kubectl(...args: string[]): Promise<string>;
  /**
   * `kubectl apply -k deploy/` (or another kustomization, e.g. a copy of deploy/ with an `images:`
   * override), then waits until both webhook replicas serve and the caBundle is set.
   */
  installWebhook(kustomization?: string): Promise<void>;
  /**
   * `kubectl apply` of examples/ (sticky backend, HAProxy, front load balancer), the labelled HAProxy
   * Deployment with `haproxyImage` instead of the example's own when given.
   */
  applyExamples(haproxyImage?: string): Promise<void>;
  /** Status of one container of a pod (init, sidecar or regular), as the kubelet reports it. */
  containerStatus(namespace: string, pod: string, container: string): Promise<V1ContainerStatus | undefined>;
  /** Host pid of a running container's main process (the lab shares the host's pid namespace). */
  containerPid(namespace: string, pod: string, container: string): Promise<number | undefined>;
  /** Stops a running container the way its runtime would (SIGTERM): the kubelet restarts it. */
  restartContainer(namespace: string, pod: string, container: string): Promise<void>;
  /** Path on the node of a pod's emptyDir volume. */
  volumePath(namespace: string, pod: string, volume: string): Promise<string>;
  /** Sends a command to the HAProxy master CLI of a pod (e.g. `@1 show peers`); reads the pod for its volume. */
  masterCli(namespace: string, name: string, command: string): Promise<string>;
  /**
   * The same through the runtime volume's path on the node, when the caller knows it (the pod's uid):
   * no request to the apiserver. The bench asks hundreds of times a second, and a read of the pod for
   * each took a quarter of the node's CPU from the burst it measured.
   */
  masterCliAt(volume: string, command: string): Promise<string>;
  /** Every live (not yet deleted) HAProxy pod of the example with its peers, table size and reloads. */
  replicas(namespace?: string, selector?: string): Promise<ReplicaState[]>;
  stop(): Promise<void>;
}

/** Controllers a node needs besides the product's: taints of a new node, pods of a gone one. */
const NODE_CONTROLLERS = ['node-lifecycle-controller', 'pod-garbage-collector-controller', 'taint-eviction-controller'];

/**
 * The whole product on one machine: the real control plane, one real node (containerd, kubelet,
 * kube-proxy, kube-scheduler) and CoreDNS, with the project's image and HAProxy images imported. Every
 * pod runs as its admitted spec says. Needs the lab namespaces (scripts/lab.sh).
 */
export async function startSandbox(): Promise<Sandbox> {
  const dir = mkdtempSync(join(tmpdir(), 'hps-sandbox-'));
  const logDir = join(dir, 'logs');
  mkdirSync(logDir);
  let controlPlane: ControlPlane | undefined;
  let node: KubeNode | undefined;

  const stop = async (): Promise<void> => {
    await node?.stop();
    await controlPlane?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join('/run', `hps-${process.pid}`), { recursive: true, force: true });
  };

  try {
    const nodeIp = process.env['HPS_NODE_IP'];
    if (nodeIp === undefined)
      throw new Error(
        'the sandbox runs only inside the lab namespaces: run the command through `bash scripts/lab.sh <command>`',
      );
    controlPlane = await startControlPlane({ nodeIp, controllers: [...DEFAULT_CONTROLLERS, ...NODE_CONTROLLERS] });
    node = await startNode(controlPlane, { logDir });
    await startClusterDns(controlPlane, node);
  } catch (err) {
    await stop();
    throw err;
  }
  const cp = controlPlane;
  const kubeNode = node;
  const core = cp.kubeConfig.makeApiClient(k8s.CoreV1Api);

  const kubectl = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await run(join(defaultBinDir(), 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, ...args], {
        cwd: REPO_ROOT,
        maxBuffer: 16 << 20,
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  };

  const containerStatus = async (
    namespace: string,
    name: string,
    container: string,
  ): Promise<V1ContainerStatus | undefined> => {
    const pod = await core.readNamespacedPod({ namespace, name });
    return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find(
      (c) => c.name === container,
    );
  };

  const runningContainerId = async (
    namespace: string,
    name: string,
    container: string,
  ): Promise<string | undefined> => {
    const status = await containerStatus(namespace, name, container);
    if (status?.state?.running === undefined) return undefined;
    return /^containerd:\/\/(\w+)$/.exec(status.containerID ?? '')?.[1];
  };

  const containerPid = async (namespace: string, name: string, container: string): Promise<number | undefined> => {
    const id = await runningContainerId(namespace, name, container);
    if (id === undefined) return undefined;
    // `ctr tasks ls`: TASK PID STATUS
    const row = (await kubeNode.ctr('tasks', 'ls'))
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[0] === id);
    return row?.[2] === 'RUNNING' && row[1] !== undefined ? Number(row[1]) : undefined;
  };

  const volumePath = async (namespace: string, name: string, volume: string): Promise<string> => {
    const pod = await core.readNamespacedPod({ namespace, name });
    const uid = pod.metadata?.uid;
    if (uid === undefined) throw new Error(`${namespace}/${name} has no uid`);
    return kubeNode.emptyDirPath(uid, volume);
  };

  // A UNIX socket path may hold 107 bytes; the kubelet's path to a volume is longer. A short symlink to
  // the volume's directory (on the lab's own /run) keeps the connect() path short.
  const shortLinks = join('/run', `hps-${process.pid}`);
  mkdirSync(shortLinks, { recursive: true });
  const masterCliAt = async (volume: string, command: string): Promise<string> => {
    const link = join(shortLinks, createHash('sha256').update(volume).digest('hex').slice(0, 12));
    if (!existsSync(link)) symlinkSync(volume, link);
    return socketCommand(join(link, 'master.sock'), command, 2000);
  };
  const masterCli = async (namespace: string, name: string, command: string): Promise<string> =>
    masterCliAt(await volumePath(namespace, name, RUNTIME_VOLUME), command);

  const replicaState = async (pod: V1Pod): Promise<ReplicaState> => {
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const cli = (c: string): Promise<string | undefined> => masterCli(namespace, name, c).catch(() => undefined);
    const [peersText, tableText, procText] = await Promise.all([
      cli('@1 show peers'),
      cli(`@1 show table ${EXAMPLE_TABLE}`),
      cli('show proc'),
    ]);
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
    node: kubeNode,
    dir,
    kubectl,
    async installWebhook(kustomization = 'deploy/') {
      await kubectl('apply', '-k', kustomization);
      await kubectl(
        '-n',
        'haproxy-peer-sync-system',
        'rollout',
        'status',
        'deployment/haproxy-peer-sync-webhook',
        '--timeout=180s',
      );
      const admission = cp.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
      await waitFor(
        async () => {
          const mwc = await admission.readMutatingWebhookConfiguration({ name: 'haproxy-peer-sync' });
          return (mwc.webhooks?.[0]?.clientConfig.caBundle ?? '') !== '';
        },
        { what: 'the webhook to publish its caBundle', timeoutMs: 60_000 },
      );
    },
    async applyExamples(haproxyImage) {
      let haproxy = join(REPO_ROOT, 'examples/haproxy.yaml');
      if (haproxyImage !== undefined) {
        const text = readFileSync(haproxy, 'utf8');
        if (!/^(\s+)image: haproxy:\S+$/m.test(text)) throw new Error('examples/haproxy.yaml names no haproxy image');
        haproxy = join(dir, 'haproxy.yaml');
        writeFileSync(haproxy, text.replace(/^(\s+)image: haproxy:\S+$/m, `$1image: ${haproxyImage}`));
      }
      await kubectl('apply', '-f', 'examples/sticky-backend.yaml', '-f', haproxy, '-f', 'examples/lb.yaml');
    },
    containerStatus,
    containerPid,
    async restartContainer(namespace, name, container) {
      const id = await runningContainerId(namespace, name, container);
      if (id === undefined) throw new Error(`${namespace}/${name}/${container} is not running`);
      await kubeNode.ctr('tasks', 'kill', '--signal', 'SIGTERM', id);
    },
    volumePath,
    masterCli,
    masterCliAt,
    async replicas(namespace = EXAMPLE_NAMESPACE, selector = EXAMPLE_SELECTOR) {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
      return Promise.all(pods.items.filter((p) => p.status?.podIP).map(replicaState));
    },
    stop,
  };
}

/**
 * For a test file: one sandbox started in `before()` (with the webhook from deploy/ installed when asked)
 * and stopped in `after()`, even on failure. Returns its getter.
 */
export function sandboxForTests(
  opts: { webhook?: boolean; onStart?: (s: Sandbox) => Promise<unknown> } = {},
): () => Sandbox {
  let sandbox: Sandbox | undefined;
  before(async () => {
    sandbox = await startSandbox();
    if (opts.webhook === true) await sandbox.installWebhook();
    await opts.onStart?.(sandbox);
  });
  after(async () => {
    await sandbox?.stop();
  });
  return () => {
    if (sandbox === undefined) throw new Error('no sandbox: its start failed (see the before() hook)');
    return sandbox;
  };
}
