/**
 * Watches a workload's pods from this process by listing them every `intervalMs` (the apiserver's
 * timestamps have whole seconds only; a 50 ms list is finer), and remembers when each pod was first
 * seen, scheduled, given its IP, had its init container finish, and turned Ready.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';

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
  stop(): Promise<void>;
}

export function observePods(core: CoreV1Api, namespace: string, labelSelector: string, intervalMs = 50): PodObserver {
  const seen = new Map<string, PodMoments>();
  let stopped = false;
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
  const loop = (async () => {
    while (!stopped) {
      const list = await core.listNamespacedPod({ namespace, labelSelector }).catch(() => undefined);
      const now = Date.now();
      for (const p of list?.items ?? []) note(p, now);
      await sleep(intervalMs);
    }
  })();
  return {
    moments: (name) => seen.get(name),
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
