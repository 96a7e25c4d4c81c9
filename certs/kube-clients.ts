/**
 * The Kubernetes calls of certs/, with @kubernetes/client-node: one Secret and one
 * MutatingWebhookConfiguration, each addressed by name (nothing is listed or watched cluster-wide).
 */
import {
  AdmissionregistrationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig,
} from '@kubernetes/client-node';
import type { SecretStore, StoredSecret } from './secret-source.ts';
import type { JsonPatchOp, WebhookConfigClient, WebhookConfigView } from './ca-bundle.ts';
import { ApiError } from '../common/errors.ts';

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

function wrap(err: unknown, what: string): ApiError {
  const status = statusOf(err);
  return new ApiError(`${what} failed${status === undefined ? '' : ` (HTTP ${status})`}`, {
    status: status ?? 0, retryable: status === undefined || status >= 500 || status === 429, cause: err,
  });
}

function decode(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

function encode(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
}

/** The Secret `namespace/name` as a SecretStore (type kubernetes.io/tls, so cert-manager tools read it). */
export function kubeSecretStore(kc: KubeConfig, namespace: string, name: string): SecretStore {
  const api = kc.makeApiClient(CoreV1Api);
  const stored = (s: { data?: Record<string, string>; metadata?: { resourceVersion?: string } }): StoredSecret =>
    ({ data: decode(s.data), resourceVersion: s.metadata?.resourceVersion ?? '' });
  const body = (data: Record<string, string>, resourceVersion?: string) => ({
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'haproxy-peer-sync', 'app.kubernetes.io/component': 'webhook' }, ...(resourceVersion === undefined ? {} : { resourceVersion }) },
    data: encode(data),
  });
  return {
    async read() {
      try { return stored(await api.readNamespacedSecret({ name, namespace })); } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw wrap(err, `reading Secret ${namespace}/${name}`);
      }
    },
    async create(data) {
      try { return stored(await api.createNamespacedSecret({ namespace, body: body(data) })); } catch (err) {
        if (statusOf(err) === 409) return 'conflict';
        throw wrap(err, `creating Secret ${namespace}/${name}`);
      }
    },
    async replace(data, resourceVersion) {
      try { return stored(await api.replaceNamespacedSecret({ name, namespace, body: body(data, resourceVersion) })); } catch (err) {
        if (statusOf(err) === 409 || statusOf(err) === 404) return 'conflict';
        throw wrap(err, `replacing Secret ${namespace}/${name}`);
      }
    },
  };
}

/** MutatingWebhookConfigurations, read and JSON-patched by name. */
export function kubeWebhookConfigClient(kc: KubeConfig): WebhookConfigClient {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  return {
    async read(name): Promise<WebhookConfigView | undefined> {
      try {
        const config = await api.readMutatingWebhookConfiguration({ name });
        return { webhooks: (config.webhooks ?? []).map((w) => ({ name: w.name, caBundle: w.clientConfig.caBundle })) };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw wrap(err, `reading MutatingWebhookConfiguration ${name}`);
      }
    },
    async patch(name, ops: readonly JsonPatchOp[]) {
      try {
        await api.patchMutatingWebhookConfiguration({ name, body: ops }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
        return 'ok';
      } catch (err) {
        // A failed `test` operation comes back as 422 (Unprocessable), a concurrent write as 409.
        if (statusOf(err) === 409 || statusOf(err) === 422) return 'conflict';
        throw wrap(err, `patching MutatingWebhookConfiguration ${name}`);
      }
    },
  };
}
