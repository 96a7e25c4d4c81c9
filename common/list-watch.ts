/**
 * One collection listed, then watched from the list's resourceVersion, kept in a cache by object name. I/O.
 * The syncer's EndpointSlice watch and the bench's pod watch are both this loop.
 *
 * "The first list is done" is tracked (`items()` is undefined before it: a caller must not mistake an
 * unlisted cache for an empty collection), and every failure path relists: after a 410 Gone, an apiserver
 * restart or a network error the cache is replaced by a fresh list, so no stale object survives. A watch
 * the server simply ends (its timeout) resumes from the last resourceVersion seen, bookmarks included.
 * Never gives up; the caller says how long to wait before each retry.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, ERRORS } from './errors.ts';
import { listAll, watchLines, type KubeAccess } from './kube-client.ts';

interface Named {
  metadata?: { name?: string; resourceVersion?: string };
}

/** What changed in the cache: a whole list, or one object of a watch event. */
export type CacheChange<T> =
  | { readonly kind: 'listed'; readonly items: readonly T[]; readonly attempt: number }
  | { readonly kind: 'event'; readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: T };

export interface ListWatchOptions<T> {
  readonly access: KubeAccess;
  /** The collection, with its query (a labelSelector) but without the watch parameters. */
  readonly path: string;
  /** After every list and every event that changed the cache (bookmarks do not). */
  readonly onChange: (change: CacheChange<T>) => void;
  /** A list or watch failed (not a 410: relisting then is routine); the loop retries after `retryInMs`. */
  readonly onError: (err: unknown, retryInMs: number, attempt: number) => void;
  /** The watch's resourceVersion expired (410 Gone): relisting at once. */
  readonly onExpired?: () => void;
  /** How long to wait before retry number `attempt` (0-based). */
  readonly retryDelay: (attempt: number) => number;
  /** Server-side watch timeout (default 300 s). */
  readonly watchTimeoutSeconds?: number;
}

export interface ListWatch<T> {
  /** Every cached object; undefined until the first list has completed. */
  items(): T[] | undefined;
  stop(): Promise<void>;
}

/** Starts listing and watching at once; returns immediately. */
export function listWatch<T extends Named>(o: ListWatchOptions<T>): ListWatch<T> {
  const timeoutSeconds = o.watchTimeoutSeconds ?? 300;
  const query = o.path.includes('?') ? '&' : '?';
  let cache: Map<string, T> | undefined;
  let rv = '';
  const stop = new AbortController();

  const onEvent = (ev: { type: string; object: unknown }): void => {
    const obj = ev.object as T & { code?: number };
    if (ev.type === 'ERROR')
      throw new ApiError(ERRORS.HPS_KUBE_API, `watch error event: ${obj.code ?? '?'}`, { status: obj.code });
    // Every event, bookmarks included, moves the version the next watch resumes from.
    rv = obj.metadata?.resourceVersion ?? rv;
    const name = obj.metadata?.name;
    if (name === undefined || cache === undefined) return;
    if (ev.type === 'ADDED' || ev.type === 'MODIFIED') cache.set(name, obj);
    else if (ev.type === 'DELETED') cache.delete(name);
    else return; // BOOKMARK
    o.onChange({ kind: 'event', type: ev.type, object: obj });
  };

  const pause = (ms: number): Promise<void> => sleep(ms, undefined, { signal: stop.signal }).catch(() => undefined);

  const run = async (): Promise<void> => {
    let attempt = 0;
    while (!stop.signal.aborted) {
      try {
        // Page by page (a continue token that expired answers 410: relisted below, like a lost watch).
        const list = await listAll<T>(o.access, o.path, { signal: stop.signal });
        cache = new Map(list.items.map((item) => [item.metadata?.name ?? '', item]));
        rv = list.resourceVersion;
        o.onChange({ kind: 'listed', items: list.items, attempt });
        for (;;) {
          const startedAt = Date.now();
          await watchLines(
            o.access,
            `${o.path}${query}watch=true&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${encodeURIComponent(rv)}`,
            onEvent,
            stop.signal,
            (timeoutSeconds + 30) * 1000,
          );
          if (stop.signal.aborted) return;
          // A watch that ends at once (an apiserver shutting down) must not spin: back off a little.
          if (Date.now() - startedAt < 1000) await pause(o.retryDelay(attempt++));
          else attempt = 0;
        }
      } catch (err) {
        if (stop.signal.aborted) break;
        if (err instanceof ApiError && err.status === 410) {
          o.onExpired?.();
          continue;
        }
        const delay = o.retryDelay(attempt++);
        o.onError(err, delay, attempt);
        await pause(delay);
      }
    }
  };
  const done = run();

  return {
    items: () => (cache === undefined ? undefined : [...cache.values()]),
    stop: async () => {
      stop.abort();
      await done;
    },
  };
}
