/**
 * List+watch of the Service's EndpointSlices, kept in a cache of every slice (a Service with more than
 * 100 endpoints has several). I/O.
 *
 * "The first list is done" is tracked (the reconciler must not mistake an unlisted cache for an empty
 * Service and drop every peer), and every failure path relists: after a 410 Gone, an apiserver restart
 * or a network error the cache is replaced by a fresh list, so no stale slice survives. A watch the
 * server simply ends (its timeout) resumes from the last resourceVersion seen. Never exits on errors;
 * retries with backoff. https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, ERRORS } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { listAll, watchLines, type KubeAccess } from './kube-client.ts';

export interface SliceWatchOptions {
  readonly access: KubeAccess;
  readonly namespace: string;
  readonly service: string;
  readonly log: Logger;
  /** Called after every list and every watch event (the caller coalesces). */
  readonly onChange: () => void;
  /** Called on every list/watch failure, for metrics. */
  readonly onError?: (err: unknown) => void;
  readonly backoff?: BackoffOptions;
  /** Server-side watch timeout (default 300 s). */
  readonly watchTimeoutSeconds?: number;
}

/** The running watch: its cache and a way to stop it. */
export interface SliceWatch {
  /** Every cached slice; undefined until the first list has completed. */
  slices(): readonly V1EndpointSlice[] | undefined;
  stop(): Promise<void>;
}

/** Starts listing and watching at once; returns immediately. */
export function watchEndpointSlices(opts: SliceWatchOptions): SliceWatch {
  const base = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/endpointslices`;
  const selector = `labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${opts.service}`)}`;
  const timeoutSeconds = opts.watchTimeoutSeconds ?? 300;
  let cache: Map<string, V1EndpointSlice> | undefined;
  let rv = '';
  const stop = new AbortController();

  const onEvent = (ev: { type: string; object: unknown }): void => {
    const obj = ev.object as V1EndpointSlice & { code?: number };
    if (ev.type === 'ERROR')
      throw new ApiError(ERRORS.HPS_KUBE_API, `watch error event: ${obj.code ?? '?'}`, { status: obj.code });
    // Every event, bookmarks included, moves the version the next watch resumes from.
    rv = obj.metadata?.resourceVersion ?? rv;
    const name = obj.metadata?.name;
    if (name === undefined || cache === undefined) return;
    if (ev.type === 'ADDED' || ev.type === 'MODIFIED') cache.set(name, obj);
    else if (ev.type === 'DELETED') cache.delete(name);
    else return; // BOOKMARK
    opts.onChange();
  };

  const pause = (ms: number): Promise<void> => sleep(ms, undefined, { signal: stop.signal }).catch(() => undefined);

  const run = async (): Promise<void> => {
    let attempt = 0;
    while (!stop.signal.aborted) {
      try {
        // Page by page (a continue token that expired answers 410: relisted below, like a lost watch).
        const list = await listAll<V1EndpointSlice>(opts.access, `${base}?${selector}`, { signal: stop.signal });
        cache = new Map(list.items.map((s) => [s.metadata?.name ?? '', s]));
        rv = list.resourceVersion;
        opts.log.info({ slices: cache.size, attempt }, 'listed EndpointSlices');
        opts.onChange();
        for (;;) {
          const startedAt = Date.now();
          await watchLines(
            opts.access,
            `${base}?${selector}&watch=true&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${encodeURIComponent(rv)}`,
            onEvent,
            stop.signal,
            (timeoutSeconds + 30) * 1000,
          );
          if (stop.signal.aborted) return;
          // A watch that ends at once (an apiserver shutting down) must not spin: back off a little.
          if (Date.now() - startedAt < 1000) await pause(backoffDelay(attempt++, opts.backoff));
          else attempt = 0;
        }
      } catch (err) {
        if (stop.signal.aborted) break;
        if (err instanceof ApiError && err.status === 410) {
          opts.log.info('watch expired (410 Gone): relisting');
          continue;
        }
        opts.onError?.(err);
        const delay = backoffDelay(attempt++, opts.backoff);
        opts.log.warn(
          { err: { message: (err as Error).message, status: (err as ApiError).status }, retryInMs: delay, attempt },
          'EndpointSlice list/watch failed; retrying',
        );
        await pause(delay);
      }
    }
  };
  const done = run();

  return {
    slices: () => (cache === undefined ? undefined : [...cache.values()]),
    stop: async () => {
      stop.abort();
      await done;
    },
  };
}
