/**
 * The kubelet stand-in, v1: it plays scheduler and kubelet for a control plane that has neither. It
 * registers Nodes (Ready, heartbeats), binds unscheduled pods to one of them through the `pods/binding`
 * subresource, gives each bound pod an address of the lab network (10.244.x.y) and reports it Running and Ready, and finishes
 * graceful deletions at once (grace period 0), as kwok's pod-ready and pod-delete stages do.
 * It runs no containers; `onPodBound`, `onPodDeleting` and `readiness` are the seams where a later
 * version starts processes and probes them.
 */
import {
  CoreV1Api, PatchStrategy, makeInformer, setHeaderOptions,
  type Informer, type KubeConfig, type ObjectCache, type V1Pod,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { createLogger, type Logger } from '../../common/logger.ts';
import { AddressPool } from './kubelet-addresses.ts';
import { KeyedQueue } from './kubelet-queue.ts';
import { nodeLabels, nodeObject, nodeStatus, runningPodStatus, statusMatches } from './kubelet-status.ts';

/** Options of {@link startKubelet}; every field has a default. */
export interface KubeletOptions {
  /** Nodes to register and bind pods to. Default `['hps-node-1']`. */
  readonly nodeNames?: readonly string[];
  /**
   * First pod address. Default `10.244.0.10`: the lab network (design.md), local to the loopback device
   * inside `scripts/lab.sh`'s network namespace. Never 127.x: the apiserver refuses loopback addresses
   * in EndpointSlices, so Services would get no endpoints.
   */
  readonly addressBase?: string;
  /** Size of the address pool. Default: up to x.x.x.254. */
  readonly addressCount?: number;
  /**
   * The nodes' InternalIP, every pod's hostIP and the podIP of `hostNetwork` pods. Default `10.244.0.1`
   * (in the lab network, below the pool, so a host-network pod still gets valid EndpointSlice entries).
   */
  readonly nodeIp?: string;
  /** Node status heartbeat period. Default 10 s (the real kubelet's nodeStatusUpdateFrequency). */
  readonly heartbeatIntervalMs?: number;
  /** Every pod is re-examined this often, which is also the `readiness` probe period. Default 1 s. */
  readonly resyncIntervalMs?: number;
  /**
   * Called once per pod after it has its address and before it is reported Running (awaited): the
   * place to start its containers. A throw is retried with backoff.
   */
  readonly onPodBound?: (pod: V1Pod, ip: string) => void | Promise<void>;
  /** Called before a terminating pod is deleted with grace period 0 (awaited): stop its containers. */
  readonly onPodDeleting?: (pod: V1Pod) => void | Promise<void>;
  /** Readiness of a running pod, asked on every resync. Default: always ready. `setReady` overrides it. */
  readonly readiness?: (pod: V1Pod) => boolean | Promise<boolean>;
  /** Default: warnings and errors to stderr. */
  readonly logger?: Logger;
}

/** A running stand-in. */
export interface Kubelet {
  readonly nodeNames: readonly string[];
  /** Pods as last seen by the stand-in's informer. */
  readonly pods: ObjectCache<V1Pod>;
  /**
   * Forces the pod's Ready condition (and its containers' `ready`) to `ready` until called again;
   * resolves once the status is written. Throws if the stand-in has not seen that pod.
   */
  setReady(namespace: string, name: string, ready: boolean): Promise<void>;
  /** Removes a `setReady` override: readiness comes from `opts.readiness` (or true) again. */
  clearReady(namespace: string, name: string): Promise<void>;
  /** The address the stand-in gave that pod, if any. */
  addressOf(namespace: string, name: string): string | undefined;
  /** Stops the informer, heartbeats and pending work. Node objects stay (the control plane owns them). */
  stop(): Promise<void>;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Registers the nodes (each is Ready in the API when this resolves), then list+watches pods: binds the
 * unscheduled ones, runs and reports the bound ones, deletes the terminating ones. Resolves once the
 * initial pod list has been taken in. Hooks are called at most once per pod UID (retried on a throw).
 */
export async function startKubelet(kubeConfig: KubeConfig, opts: KubeletOptions = {}): Promise<Kubelet> {
  const log = opts.logger ?? createLogger('kubelet-standin', 'warn', pino.destination(2));
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const nodeNames = [...(opts.nodeNames ?? ['hps-node-1'])];
  const nodeIp = opts.nodeIp ?? '10.244.0.1';
  const addressBase = opts.addressBase ?? '10.244.0.10';
  const pool = new AddressPool(addressBase, opts.addressCount);
  if (addressBase.startsWith('127.')) {
    // Measured on kube-apiserver 1.34: EndpointSlice (and Endpoints) validation refuses loopback
    // addresses, so the endpointslice controller fails to write slices for these pods.
    log.warn({ addressBase }, 'loopback pod addresses: Services selecting these pods get no EndpointSlice endpoints');
  }
  const readyOverride = new Map<string, boolean>(); // by pod UID: a recreated pod of the same name starts fresh
  const started = new Set<string>(); // UIDs whose onPodBound hook has completed
  const finished = new Set<string>(); // UIDs whose onPodDeleting hook has completed (call it once)
  const unschedulable = new Set<string>(); // UIDs already reported as matching no node (warn once)
  // UID → node, recorded when we bind: the informer learns of a binding only later, and choosing by its
  // cache would put a burst of new pods all on the same node.
  const assigned = new Map<string, string>();
  let stopped = false;

  await Promise.all(nodeNames.map((name) => registerNode(core, name, nodeIp)));
  const heartbeat = setInterval(() => {
    for (const name of nodeNames) {
      core.patchNodeStatus({ name, body: { status: nodeStatus(name, nodeIp, new Date()) } }, MERGE_PATCH)
        .catch((err: unknown) => log.warn({ err, node: name }, 'node heartbeat failed'));
    }
  }, opts.heartbeatIntervalMs ?? 10_000);

  const informer: Informer<V1Pod> & ObjectCache<V1Pod> = makeInformer(kubeConfig, '/api/v1/pods',
    () => core.listPodForAllNamespaces());
  const queue = new KeyedQueue((key) => reconcile(key), {
    onError: (key, err) => log.warn({ err, pod: key }, 'pod reconcile failed; retrying'),
  });
  const keyOf = (pod: V1Pod): string => `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
  const lookup = (key: string): V1Pod | undefined => {
    const [namespace, name] = splitKey(key);
    return informer.get(name, namespace);
  };
  const ours = (pod: V1Pod): boolean => nodeNames.includes(pod.spec?.nodeName ?? '');

  async function reconcile(key: string): Promise<void> {
    const pod = lookup(key);
    if (!pod || stopped) return;
    const uid = pod.metadata?.uid ?? '';
    const [namespace, name] = splitKey(key);
    if (!pod.spec?.nodeName) {
      if (!pod.metadata?.deletionTimestamp) await bind(pod, namespace, name);
      return;
    }
    if (!ours(pod)) return;
    if (pod.metadata?.deletionTimestamp) {
      if (!finished.has(uid)) {
        await opts.onPodDeleting?.(pod);
        finished.add(uid);
      }
      await ignoreNotFound(core.deleteNamespacedPod({
        name, namespace, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid } },
      }));
      // The address is freed on the informer's delete event: a finalizer can keep the pod alive.
      return;
    }
    const ip = pod.spec.hostNetwork ? nodeIp : pool.allocate(uid);
    if (!started.has(uid)) {
      await opts.onPodBound?.(pod, ip);
      started.add(uid);
    }
    const ready = readyOverride.get(uid) ?? (opts.readiness ? await opts.readiness(pod) : true);
    const desired = runningPodStatus(pod, { podIP: ip, hostIP: nodeIp, ready, now: new Date() });
    if (statusMatches(pod, desired)) return;
    await core.patchNamespacedPodStatus({ name, namespace, body: { status: desired } }, MERGE_PATCH);
    log.debug({ pod: key, ip, ready }, 'pod status written');
  }

  async function bind(pod: V1Pod, namespace: string, name: string): Promise<void> {
    const scheduler = pod.spec?.schedulerName;
    if (scheduler && scheduler !== 'default-scheduler') return;
    const node = chooseNode(pod, nodeNames, assigned);
    const uid = pod.metadata?.uid ?? '';
    if (!node) {
      if (!unschedulable.has(uid)) log.info({ pod: `${namespace}/${name}` }, 'no stand-in node matches the pod nodeSelector; left pending');
      unschedulable.add(uid);
      return;
    }
    try {
      await core.createNamespacedBinding({ namespace, body: {
        apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace, uid }, target: { kind: 'Node', name: node },
      } });
      assigned.set(uid, node);
    } catch (err) {
      // 409: already bound (by an earlier pass); the update event brings the next step.
      if (statusOf(err) !== 409) throw err;
    }
  }

  informer.on('add', (pod) => queue.poke(keyOf(pod)));
  informer.on('update', (pod) => queue.poke(keyOf(pod)));
  informer.on('delete', (pod) => {
    const uid = pod.metadata?.uid ?? '';
    pool.release(uid);
    readyOverride.delete(uid);
    started.delete(uid);
    finished.delete(uid);
    unschedulable.delete(uid);
    assigned.delete(uid);
    queue.poke(keyOf(pod)); // a new pod of the same name may be waiting
  });
  // client-node's ListWatch stops for good after an error (e.g. the apiserver restarted): restart it.
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    // Expected while the apiserver restarts; info, not warn, to keep test output readable.
    log.info({ err }, 'pod watch failed; restarting in 1 s');
    const retry = setTimeout(() => {
      if (!stopped) informer.start().catch((e: unknown) => log.warn({ err: e }, 'pod watch restart failed'));
    }, 1000);
    retry.unref();
  });
  await informer.start();

  // Pods that already hold an address (bound before this stand-in started) keep it; claim them all
  // before the queue runs, so no new pod is handed one of their addresses.
  for (const pod of informer.list()) {
    if (ours(pod)) assigned.set(pod.metadata?.uid ?? '', pod.spec?.nodeName ?? '');
    const ip = pod.status?.podIP;
    if (ip && ours(pod) && !pod.spec?.hostNetwork && !pool.claim(pod.metadata?.uid ?? '', ip)) {
      log.warn({ pod: keyOf(pod), ip }, 'pod holds an address outside the pool or taken twice; it gets a new one');
    }
  }
  queue.start();
  const resync = setInterval(() => {
    for (const pod of informer.list()) if (!pod.spec?.nodeName || ours(pod)) queue.poke(keyOf(pod));
  }, opts.resyncIntervalMs ?? 1000);

  const uidOf = (namespace: string, name: string): string => {
    const uid = informer.get(name, namespace)?.metadata?.uid;
    if (!uid) throw new Error(`kubelet stand-in has not seen pod ${namespace}/${name}`);
    return uid;
  };
  return {
    nodeNames,
    pods: informer,
    async setReady(namespace, name, ready) {
      readyOverride.set(uidOf(namespace, name), ready);
      await queue.add(`${namespace}/${name}`);
    },
    async clearReady(namespace, name) {
      readyOverride.delete(uidOf(namespace, name));
      await queue.add(`${namespace}/${name}`);
    },
    addressOf(namespace, name) {
      const pod = informer.get(name, namespace);
      return pod?.metadata?.uid ? pool.addressOf(pod.metadata.uid) : undefined;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeat);
      clearInterval(resync);
      queue.stop();
      await informer.stop();
    },
  };
}

/** Creates the Node (or adopts an existing one), drops the not-ready taint, and reports it Ready. */
async function registerNode(core: CoreV1Api, name: string, nodeIp: string): Promise<void> {
  try {
    await core.createNode({ body: nodeObject(name) });
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
  }
  // The TaintNodesByCondition admission plugin taints every new Node not-ready; the node lifecycle
  // controller, which we do not run, would lift it once the node reports Ready.
  await core.patchNode({ name, body: { metadata: { labels: nodeLabels(name) }, spec: { taints: null } } }, MERGE_PATCH);
  await core.patchNodeStatus({ name, body: { status: nodeStatus(name, nodeIp, new Date()) } }, MERGE_PATCH);
}

/** The matching node with the fewest pods bound (spreads replicas), or undefined if none matches. */
function chooseNode(pod: V1Pod, nodeNames: readonly string[], assigned: ReadonlyMap<string, string>): string | undefined {
  const selector = pod.spec?.nodeSelector ?? {};
  const candidates = nodeNames.filter((n) => {
    const labels = nodeLabels(n);
    return Object.entries(selector).every(([k, v]) => labels[k] === v);
  });
  const load = (n: string): number => [...assigned.values()].filter((a) => a === n).length;
  return candidates.sort((a, b) => load(a) - load(b))[0];
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}
