/**
 * The Kubernetes calls of certs/: one Secret and one MutatingWebhookConfiguration, each addressed by
 * name (nothing is listed or watched cluster-wide), over the project's small client
 * (common/kube-client.ts): @kubernetes/client-node's API classes cost the webhook ~80 MB of resident
 * memory on import, more than the rest of the process.
 */
import type { V1MutatingWebhookConfiguration, V1Secret } from '@kubernetes/client-node';
import type { SecretStore, StoredSecret } from './secret-source.ts';
import type { JsonPatchOp, WebhookConfigClient, WebhookConfigView } from './ca-bundle.ts';
import { ApiError, ERRORS } from '../common/errors.ts';
import { lazyAccess, requestJson, type KubeCredentials } from '../common/kube-client.ts';

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiError ? err.status : undefined;
}

function wrap(err: unknown, what: string): ApiError {
  const status = statusOf(err);
  return new ApiError(ERRORS.HPS_KUBE_API, `${what} failed${status === undefined ? '' : ` (HTTP ${status})`}`, {
    status: status ?? 0,
    retryable: status === undefined || status >= 500 || status === 429,
    cause: err,
  });
}

function decode(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

function encode(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
}

const segment = encodeURIComponent;

/**
 * The Secret `namespace/name` as a SecretStore (type kubernetes.io/tls, so cert-manager tools read it).
 * `kube`: credentials from common/kube-client.ts, or a loaded client-node KubeConfig.
 */
export function kubeSecretStore(kube: KubeCredentials, namespace: string, name: string): SecretStore {
  const access = lazyAccess(kube);
  const collection = `/api/v1/namespaces/${segment(namespace)}/secrets`;
  const item = `${collection}/${segment(name)}`;
  const stored = (s: V1Secret): StoredSecret => ({
    data: decode(s.data),
    resourceVersion: s.metadata?.resourceVersion ?? '',
  });
  const body = (data: Record<string, string>, resourceVersion?: string): V1Secret => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/name': 'haproxy-peer-sync', 'app.kubernetes.io/component': 'webhook' },
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    data: encode(data),
  });
  return {
    async read() {
      try {
        return stored(await requestJson<V1Secret>(await access(), 'GET', item));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw wrap(err, `reading Secret ${namespace}/${name}`);
      }
    },
    async create(data) {
      try {
        return stored(await requestJson<V1Secret>(await access(), 'POST', collection, { body: body(data) }));
      } catch (err) {
        if (statusOf(err) === 409) return 'conflict';
        throw wrap(err, `creating Secret ${namespace}/${name}`);
      }
    },
    async replace(data, resourceVersion) {
      try {
        return stored(await requestJson<V1Secret>(await access(), 'PUT', item, { body: body(data, resourceVersion) }));
      } catch (err) {
        if (statusOf(err) === 409 || statusOf(err) === 404) return 'conflict';
        throw wrap(err, `replacing Secret ${namespace}/${name}`);
      }
    },
  };
}

/** MutatingWebhookConfigurations, read and JSON-patched by name. */
export function kubeWebhookConfigClient(kube: KubeCredentials): WebhookConfigClient {
  const access = lazyAccess(kube);
  const item = (name: string): string =>
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${segment(name)}`;
  return {
    async read(name): Promise<WebhookConfigView | undefined> {
      try {
        const config = await requestJson<V1MutatingWebhookConfiguration>(await access(), 'GET', item(name));
        return { webhooks: (config.webhooks ?? []).map((w) => ({ name: w.name, caBundle: w.clientConfig.caBundle })) };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw wrap(err, `reading MutatingWebhookConfiguration ${name}`);
      }
    },
    async patch(name, ops: readonly JsonPatchOp[]) {
      try {
        await requestJson(await access(), 'PATCH', item(name), {
          body: ops,
          contentType: 'application/json-patch+json',
        });
        return 'ok';
      } catch (err) {
        // A failed `test` operation comes back as 422 (Unprocessable), a concurrent write as 409.
        if (statusOf(err) === 409 || statusOf(err) === 422) return 'conflict';
        throw wrap(err, `patching MutatingWebhookConfiguration ${name}`);
      }
    },
  };
}
