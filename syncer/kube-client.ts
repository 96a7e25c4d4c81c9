/** The syncer's Kubernetes calls (one list, read page by page, and one watch): the client is shared with the webhook, in common/kube-client.ts. */
export {
  getJson,
  inClusterAccess,
  kubeconfigAccess,
  listAll,
  watchLines,
  type KubeAccess,
} from '../common/kube-client.ts';
