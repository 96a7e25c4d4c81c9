/** AccessReviewer with a SubjectAccessReview through @kubernetes/client-node (needs `create subjectaccessreviews`). */
import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { AccessReviewer } from './access-warnings.ts';

export function kubeAccessReviewer(kc: KubeConfig): AccessReviewer {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return async (q) => {
    const review = await api.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
        spec: { user: q.user, groups: [...q.groups], resourceAttributes: { namespace: q.namespace, verb: q.verb, group: q.group, resource: q.resource } },
      },
    });
    return review.status?.allowed === true;
  };
}
