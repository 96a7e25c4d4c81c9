/** The syncer's Kubernetes calls (one list, one watch): the client is shared with the webhook, in common/kube-client.ts. */
export { getJson, inClusterAccess, kubeconfigAccess, watchLines, type KubeAccess } from '../common/kube-client.ts';
