/**
 * Watches a workload's pods from this process (one list, then a watch: the apiserver pushes each change)
 * and remembers when each pod was first seen, scheduled, given its IP, had its init container finish,
 * and turned Ready. It is also the bench's only pod list: polling the apiserver for pods from several
 * loops (the bench once listed ~170 times a second, each list ~200 KB with 20 injected pods) took CPU
 * from the node it measures.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAll, watchLines, type KubeAccess } from '../common/kube-client.ts';

/** The init container the webhook injects (webhook/inject.ts). */
const INIT_CONTAINER = 'haproxy-peer-sync-init';

export interface PodMoments {
  seen: number;
  scheduled?: number;
  ip?: number;
  initDone?: number;
  ready?: number;
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

export function observePods(access: KubeAccess, namespace: string, labelSelector: string): PodObserver {
  const seen = new Map<string, PodMoments>();
  const current = new Map<string, V1Pod>();
  const stop = new AbortController();
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
      p.status?.initContainerStatuses?.some((c) => c.name === INIT_CONTAINER && c.state?.terminated !== undefined)
    )
      m.initDone = now;
    if (m.ready === undefined && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      m.ready = now;
  };
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=${encodeURIComponent(labelSelector)}`;
  const loop = (async () => {
    while (!stop.signal.aborted) {
      try {
        const list = await listAll<V1Pod>(access, path, { signal: stop.signal });
        const now = Date.now();
        current.clear();
        for (const p of list.items) {
          current.set(p.metadata?.name ?? '', p);
          note(p, now);
        }
        onListed();
        let rv = list.resourceVersion;
        for (;;) {
          await watchLines(
            access,
            `${path}&watch=true&allowWatchBookmarks=true&timeoutSeconds=240&resourceVersion=${encodeURIComponent(rv)}`,
            (ev) => {
              const p = ev.object as V1Pod & { code?: number };
              if (ev.type === 'ERROR') throw new Error(`pod watch: error event ${p.code ?? '?'}`);
              rv = p.metadata?.resourceVersion ?? rv;
              const name = p.metadata?.name ?? '';
              if (ev.type === 'DELETED') current.delete(name);
              else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') {
                current.set(name, p);
                note(p, Date.now());
              }
            },
            stop.signal,
            300_000, // quiet pods send nothing but a bookmark about once a minute
          );
          if (stop.signal.aborted) return;
        }
      } catch (err) {
        if (stop.signal.aborted) return;
        process.stderr.write(`bench: pod watch: ${(err as Error).message}; relisting\n`);
        await sleep(100);
      }
    }
  })();
  return {
    moments: (name) => seen.get(name),
    pods: () => [...current.values()],
    listed,
    stop: async () => {
      stop.abort();
      await loop;
    },
  };
}
