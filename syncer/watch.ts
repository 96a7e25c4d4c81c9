/**
 * List+watch of the Service's EndpointSlices, kept in a cache of every slice (a Service with more than
 * 100 endpoints has several). I/O.
 *
 * Written as a small loop rather than client-node's ListWatch so that "the first list is done" is
 * known (the reconciler must not mistake an unlisted cache for an empty Service and drop every peer)
 * and so that every failure path relists: after a 410 Gone, an apiserver restart or a network error
 * the cache is replaced by a fresh list, so no stale slice survives. Never exits on errors; retries
 * with backoff. https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
 */
import { DiscoveryV1Api, Watch, type KubeConfig, type V1EndpointSlice } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../common/logger.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';

export interface SliceWatchOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly service: string;
  readonly log: Logger;
  /** Called after every list and every watch event (the caller coalesces). */
  readonly onChange: () => void;
  /** Called on every list/watch failure, for metrics. */
  readonly onError?: (err: unknown) => void;
  readonly backoff?: BackoffOptions;
}

/** The running watch: its cache and a way to stop it. */
export interface SliceWatch {
  /** Every cached slice; undefined until the first list has completed. */
  slices(): readonly V1EndpointSlice[] | undefined;
  stop(): Promise<void>;
}

/** The watch outcome that decides between re-watching from the last version and relisting. */
type WatchEnd = { kind: 'closed' } | { kind: 'gone' } | { kind: 'error'; err: unknown };

/** Starts listing and watching at once; returns immediately. */
export function watchEndpointSlices(opts: SliceWatchOptions): SliceWatch {
  const api = opts.kubeConfig.makeApiClient(DiscoveryV1Api);
  const watcher = new Watch(opts.kubeConfig);
  const path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/endpointslices`;
  const labelSelector = `kubernetes.io/service-name=${opts.service}`;
  let cache: Map<string, V1EndpointSlice> | undefined;
  let stopped = false;
  let abort: AbortController | undefined;
  const stopSignal = new AbortController();

  let rv = '';
  const watchOnce = (): Promise<WatchEnd> => new Promise((resolve) => {
    let gone = false;
    const onEvent = (phase: string, obj: V1EndpointSlice & { code?: number }): void => {
      if (phase === 'ERROR') { if (obj.code === 410) gone = true; return; }
      // Every event, bookmarks included, moves the version the next watch resumes from.
      rv = obj.metadata?.resourceVersion ?? rv;
      const name = obj.metadata?.name;
      if (name === undefined || cache === undefined) return;
      if (phase === 'ADDED' || phase === 'MODIFIED') cache.set(name, obj);
      else if (phase === 'DELETED') cache.delete(name);
      else return; // BOOKMARK
      opts.onChange();
    };
    const onDone = (err: unknown): void => {
      abort = undefined;
      if (gone || (err as { statusCode?: number } | null)?.statusCode === 410) resolve({ kind: 'gone' });
      else if (err === null || err === undefined || (err as Error).name === 'TimeoutError' || stopped) resolve({ kind: 'closed' });
      else resolve({ kind: 'error', err });
    };
    watcher.watch(path, { labelSelector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 300 }, onEvent, onDone)
      .then((ctrl) => { if (stopped) ctrl.abort(); else abort = ctrl; })
      .catch((err: unknown) => resolve({ kind: 'error', err }));
  });

  const run = async (): Promise<void> => {
    let attempt = 0;
    while (!stopped) {
      try {
        const list = await api.listNamespacedEndpointSlice({ namespace: opts.namespace, labelSelector });
        if (stopped) break;
        cache = new Map(list.items.map((s) => [s.metadata?.name ?? '', s]));
        opts.log.info({ slices: cache.size, attempt }, 'listed EndpointSlices');
        opts.onChange();
        rv = list.metadata?.resourceVersion ?? '';
        // Watch from the list's version; a plain close (server timeout) re-watches, anything else relists.
        for (;;) {
          const startedAt = Date.now();
          const end = await watchOnce();
          if (stopped) return;
          if (end.kind === 'closed') {
            // A watch that ends at once (an apiserver shutting down) must not spin: back off a little.
            if (Date.now() - startedAt < 1000) await sleep(backoffDelay(attempt++, opts.backoff), undefined, { signal: stopSignal.signal }).catch(() => undefined);
            else attempt = 0;
            continue;
          }
          if (end.kind === 'gone') { opts.log.info('watch expired (410 Gone): relisting'); break; }
          throw end.err;
        }
      } catch (err) {
        if (stopped) break;
        opts.onError?.(err);
        const delay = backoffDelay(attempt++, opts.backoff);
        opts.log.warn({ err: describe(err), retryInMs: delay, attempt }, 'EndpointSlice list/watch failed; retrying');
        await sleep(delay, undefined, { signal: stopSignal.signal }).catch(() => undefined);
      }
    }
  };
  const done = run();

  return {
    slices: () => (cache === undefined ? undefined : [...cache.values()]),
    stop: async () => {
      stopped = true;
      stopSignal.abort();
      abort?.abort();
      await done;
    },
  };
}

/** A short, secret-free description of a client error (never the request with its headers). */
function describe(err: unknown): { message: string; code?: number | string } {
  const e = err as { message?: string; code?: number | string; statusCode?: number };
  const code = e.statusCode ?? e.code;
  return code === undefined ? { message: String(e.message ?? err) } : { message: String(e.message ?? err), code };
}
