/**
 * AccessReviewer with a SubjectAccessReview (needs `create subjectaccessreviews`), over the project's
 * small client (common/kube-client.ts) rather than @kubernetes/client-node's generated API (~80 MB).
 */
import type { V1SubjectAccessReview } from '@kubernetes/client-node';
import { lazyAccess, requestJson, type KubeCredentials } from '../common/kube-client.ts';
import type { AccessReviewer } from './access-warnings.ts';

/** `kube`: credentials from common/kube-client.ts, or a loaded client-node KubeConfig. */
export function kubeAccessReviewer(kube: KubeCredentials): AccessReviewer {
  const access = lazyAccess(kube);
  return async (q) => {
    const body: V1SubjectAccessReview = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: q.user,
        groups: [...q.groups],
        resourceAttributes: { namespace: q.namespace, verb: q.verb, group: q.group, resource: q.resource },
      },
    };
    const review = await requestJson<V1SubjectAccessReview>(
      await access(),
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      { body },
    );
    return review.status?.allowed === true;
  };
}
