/**
 * The pod runner's two links to a real apiserver, built from the kubelet stand-in's own KubeConfig:
 * reading the ConfigMaps and Secrets pods reference, and issuing ServiceAccount tokens for pods through
 * the TokenRequest API — so the RBAC a pod gets is exactly what deploy/ and examples/ grant its
 * ServiceAccount.
 */
import { readFile } from 'node:fs/promises';
import * as k8s from '@kubernetes/client-node';
import type { ObjectSource } from './pod-runner-objects.ts';
import type { KubeAccess, TokenRequestOptions } from './pod-runner-volumes.ts';

/** Reads through the apiserver with the given credentials (the kubelet's, not the pod's). */
export function objectSourceFromKube(kubeConfig: k8s.KubeConfig): ObjectSource {
  const api = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const orUndefined = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return undefined;
      throw err;
    }
  };
  return {
    configMap: (namespace, name) => orUndefined(() => api.readNamespacedConfigMap({ namespace, name })),
    secret: (namespace, name) => orUndefined(() => api.readNamespacedSecret({ namespace, name })),
  };
}

/**
 * {@link KubeAccess} for pods of this cluster: the apiserver URL and CA of the KubeConfig's current
 * cluster, and tokens from `POST .../serviceaccounts/<sa>/token`, bound to the pod when its uid is known
 * (as the kubelet binds projected tokens), so a token dies with its pod.
 * @see https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/
 */
export async function kubeAccessFromKubeConfig(kubeConfig: k8s.KubeConfig): Promise<KubeAccess> {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error('kubeAccessFromKubeConfig: the KubeConfig has no current cluster');
  const caPem = cluster.caData !== undefined ? Buffer.from(cluster.caData, 'base64').toString('utf8')
    : cluster.caFile !== undefined ? await readFile(cluster.caFile, 'utf8') : undefined;
  if (caPem === undefined) throw new Error(`kubeAccessFromKubeConfig: cluster ${cluster.name} has no CA (caData or caFile)`);
  const api = kubeConfig.makeApiClient(k8s.CoreV1Api);
  return {
    server: cluster.server,
    caPem,
    async tokenFor(serviceAccount: string, namespace: string, request: TokenRequestOptions = {}): Promise<string> {
      const pod = request.boundPod;
      const answer = await api.createNamespacedServiceAccountToken({
        name: serviceAccount, namespace,
        body: {
          spec: {
            audiences: [...(request.audiences ?? [])],
            ...(request.expirationSeconds !== undefined ? { expirationSeconds: request.expirationSeconds } : {}),
            ...(pod?.uid !== undefined ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid } } : {}),
          },
        },
      });
      const token = answer.status?.token;
      if (token === undefined || token === '') throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
      return token;
    },
  };
}
