/**
 * A warning when an injected pod's ServiceAccount cannot list and watch EndpointSlices in its own
 * namespace: the syncer would then never see its peers. Checked with a SubjectAccessReview (the
 * apiserver's own authorizer answers, whatever grants the access), cached per ServiceAccount, and
 * never blocking: an error or a slow answer yields no warning rather than a failed admission.
 * https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access
 */
import type { AccessWarnings } from './review.ts';

export interface AccessQuery {
  readonly user: string;
  readonly groups: readonly string[];
  readonly namespace: string;
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
}

/** Answers "may this user do that?"; kube-clients.ts implements it with a SubjectAccessReview. */
export type AccessReviewer = (query: AccessQuery) => Promise<boolean>;

export interface AccessWarningsOptions {
  readonly reviewer: AccessReviewer;
  readonly ttlMs: number;
  readonly timeoutMs: number;
  readonly now: () => number;
  readonly onError?: ((err: Error) => void) | undefined;
}

const VERBS = ['list', 'watch'] as const;

/** The AccessWarnings function for review.ts, with a per-ServiceAccount cache. */
export function cachedAccessWarnings(opts: AccessWarningsOptions): AccessWarnings & { cacheSize(): number } {
  const cache = new Map<string, { expires: number; warnings: Promise<readonly string[]> }>();
  const check = async (namespace: string, serviceAccount: string): Promise<readonly string[]> => {
    const query = (verb: string): AccessQuery => ({
      user: `system:serviceaccount:${namespace}:${serviceAccount}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
      namespace,
      verb,
      group: 'discovery.k8s.io',
      resource: 'endpointslices',
    });
    const answers = await Promise.all(VERBS.map((verb) => opts.reviewer(query(verb))));
    const denied = VERBS.filter((_, i) => answers[i] !== true);
    if (denied.length === 0) return [];
    return [
      `ServiceAccount ${namespace}/${serviceAccount} may not ${denied.join(' or ')} endpointslices.discovery.k8s.io in namespace ${namespace}: the haproxy-peer-sync syncer will not find its peers; grant it the Role from deploy/`,
    ];
  };
  const fn = async (namespace: string, serviceAccount: string): Promise<readonly string[]> => {
    const key = `${namespace}/${serviceAccount}`;
    const now = opts.now();
    const hit = cache.get(key);
    if (hit !== undefined && hit.expires > now) return hit.warnings;
    const warnings = check(namespace, serviceAccount);
    cache.set(key, { expires: now + opts.ttlMs, warnings });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), opts.timeoutMs).unref();
    });
    try {
      const result = await Promise.race([warnings, timeout]);
      if (result === 'timeout') {
        cache.delete(key);
        return [];
      }
      return result;
    } catch (err) {
      cache.delete(key); // do not remember a failure: the next pod asks again
      opts.onError?.(err as Error);
      return [];
    } finally {
      clearTimeout(timer);
    }
  };
  return Object.assign(fn, { cacheSize: () => cache.size });
}
