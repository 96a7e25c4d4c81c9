/**
 * Watches a workload's pods from this process (common/list-watch.ts: the apiserver pushes each change)
 * and remembers when each pod was first seen, scheduled, given its IP, had its init container finish,
 * and turned Ready. It is also the bench's only pod list: polling the apiserver for pods from several
 * loops (the bench once listed ~170 times a second, each list ~200 KB with 20 injected pods) took CPU
 * from the node it measures.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeAccess } from '../common/kube-client.ts';
import { listWatch } from '../common/list-watch.ts';

/** The init container the webhook injects (webhook/inject.ts). */
const INIT_CONTAINER = 'haproxy-peer-sync-init';

export interface PodMoments {
  seen: number;
  scheduled?: number;
  ip?: number;
  initDone?: number;
  /** The named native sidecar reported started (its startupProbe passed): the kubelet starts the next container. */
  sidecarStarted?: number;
  /** The named main container reported running. */
  mainRunning?: number;
  ready?: number;
}

/** The containers whose moments are noted: the init container always, the others when named. */
export interface ObservedContainers {
  readonly init: string;
  readonly sidecar?: string;
  readonly main?: string;
}

export interface PodObserver {
  /** What was seen of a pod so far (by name). */
  moments(name: string): PodMoments | undefined;
  /** The pods as last seen (deleted ones gone). */
  pods(): V1Pod[];
  /** Resolves once the first list is in. */
  readonly listed: Promise<void>;
  stop(): Promise<void>;
}

export function observePods(
  access: KubeAccess,
  namespace: string,
  labelSelector: string,
  containers: ObservedContainers = { init: INIT_CONTAINER },
): PodObserver {
  const seen = new Map<string, PodMoments>();
  let onListed = (): void => {};
  const listed = new Promise<void>((resolve) => (onListed = resolve));
  const note = (p: V1Pod, now: number): void => {
    const name = p.metadata?.name;
    if (name === undefined) return;
    let m = seen.get(name);
    if (m === undefined) {
      m = { seen: now };
      seen.set(name, m);
    }
    if (m.scheduled === undefined && p.spec?.nodeName) m.scheduled = now;
    if (m.ip === undefined && p.status?.podIP) m.ip = now;
    if (
      m.initDone === undefined &&
      p.status?.initContainerStatuses?.some((c) => c.name === containers.init && c.state?.terminated !== undefined)
    )
      m.initDone = now;
    if (
      m.sidecarStarted === undefined &&
      p.status?.initContainerStatuses?.some((c) => c.name === containers.sidecar && c.started === true)
    )
      m.sidecarStarted = now;
    if (
      m.mainRunning === undefined &&
      p.status?.containerStatuses?.some((c) => c.name === containers.main && c.state?.running !== undefined)
    )
      m.mainRunning = now;
    if (m.ready === undefined && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      m.ready = now;
  };
  const watch = listWatch<V1Pod>({
    access,
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=${encodeURIComponent(labelSelector)}`,
    onChange: (change) => {
      const now = Date.now();
      if (change.kind === 'listed') {
        for (const p of change.items) note(p, now);
        onListed();
      } else if (change.type !== 'DELETED') note(change.object, now);
    },
    onError: (err, retryInMs) =>
      process.stderr.write(`bench: pod watch: ${(err as Error).message}; relisting in ${retryInMs} ms\n`),
    retryDelay: () => 100,
    watchTimeoutSeconds: 240,
  });
  return {
    moments: (name) => seen.get(name),
    pods: () => watch.items() ?? [],
    listed,
    stop: () => watch.stop(),
  };
}
