/**
 * List+watch of the Service's EndpointSlices, kept in a cache of every slice (a Service with more than
 * 100 endpoints has several): common/list-watch.ts's loop, with the syncer's logs and backoff. I/O.
 *
 * The cache is undefined until the first list (the reconciler must not mistake an unlisted cache for an
 * empty Service and drop every peer), and every failure relists, so no stale slice survives a 410 Gone,
 * an apiserver restart or a network error. Never exits on errors; retries with backoff.
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import type { ApiError } from '../common/errors.ts';
import { listWatch } from '../common/list-watch.ts';
import type { Logger } from '../common/logger.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import type { KubeAccess } from './kube-client.ts';

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
  const watch = listWatch<V1EndpointSlice>({
    access: opts.access,
    path: `${base}?${selector}`,
    onChange: (change) => {
      if (change.kind === 'listed')
        opts.log.info({ slices: change.items.length, attempt: change.attempt }, 'listed EndpointSlices');
      opts.onChange();
    },
    onExpired: () => opts.log.info('watch expired (410 Gone): relisting'),
    onError: (err, retryInMs, attempt) => {
      opts.onError?.(err);
      opts.log.warn(
        { err: { message: (err as Error).message, status: (err as ApiError).status }, retryInMs, attempt },
        'EndpointSlice list/watch failed; retrying',
      );
    },
    retryDelay: (attempt) => backoffDelay(attempt, opts.backoff),
    ...(opts.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: opts.watchTimeoutSeconds }),
  });
  return { slices: () => watch.items(), stop: () => watch.stop() };
}
