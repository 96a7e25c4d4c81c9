/**
 * The MutatingWebhookConfiguration the webhook expects, as data: deploy/, the demo and the tests build
 * theirs from here, so the policy choices below live in one place with their reasons.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#webhook-configuration
 */
import type { V1MutatingWebhook, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { INJECT_LABEL } from './annotations.ts';

export const WEBHOOK_NAME = 'inject.haproxy-peer-sync.io';

export interface RegistrationOptions {
  readonly name: string;
  /** Where the apiserver calls us: a Service in the cluster, or a URL (tests, out-of-cluster). */
  readonly target: { readonly service: { readonly namespace: string; readonly name: string; readonly port?: number } } | { readonly url: string };
  /** Base64 PEM; leave empty when the caBundle sync or cert-manager's CA injector fills it. */
  readonly caBundle?: string | undefined;
  /** Namespaces never injected (the webhook's own, kube-system): a broken webhook cannot block its own repair. */
  readonly excludeNamespaces?: readonly string[];
  /** Extra namespace selector labels (tests use it to fence one namespace). */
  readonly namespaceLabels?: Readonly<Record<string, string>>;
  /** Default true. Without it every pod reaches the handler, which still skips unlabelled ones. */
  readonly objectSelector?: boolean;
  readonly webhookName?: string;
}

/**
 * One webhook entry:
 * - objectSelector on the label: only pods that asked for injection ever wait for us;
 * - failurePolicy Fail: a labelled pod created without its syncer would run with a peers section that
 *   never changes, silently losing stick-table entries on every rollout, which is worse than a clear
 *   admission error; the objectSelector keeps every other pod out of the blast radius;
 * - sideEffects None: the answer depends on the request only (the SubjectAccessReview reads), so
 *   `kubectl --dry-run=server` works;
 * - reinvocationPolicy IfNeeded: if a later webhook (a mesh injector) changes the pod we are asked
 *   again, and our handler is idempotent (an injected pod is left alone);
 * - timeoutSeconds 10: we answer in milliseconds; the access check gives up after 2 s;
 * - admissionReviewVersions v1 only: the handler refuses v1beta1.
 */
export function mutatingWebhook(opts: RegistrationOptions): V1MutatingWebhook {
  const exclude = opts.excludeNamespaces ?? ['kube-system'];
  return {
    name: opts.webhookName ?? WEBHOOK_NAME,
    clientConfig: {
      ...('url' in opts.target ? { url: opts.target.url } : { service: { namespace: opts.target.service.namespace, name: opts.target.service.name, path: '/mutate', port: opts.target.service.port ?? 443 } }),
      ...(opts.caBundle ? { caBundle: opts.caBundle } : {}),
    },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
    namespaceSelector: {
      ...(opts.namespaceLabels ? { matchLabels: { ...opts.namespaceLabels } } : {}),
      ...(exclude.length > 0 ? { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...exclude] }] } : {}),
    },
    ...(opts.objectSelector === false ? {} : { objectSelector: { matchLabels: { [INJECT_LABEL]: 'true' } } }),
    matchPolicy: 'Equivalent',
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    reinvocationPolicy: 'IfNeeded',
    timeoutSeconds: 10,
  };
}

/** The whole MutatingWebhookConfiguration with one webhook entry. */
export function mutatingWebhookConfiguration(opts: RegistrationOptions & {
  labels?: Record<string, string>;
  /**
   * `<namespace>/<Certificate>`: with cert-manager, its CA injector fills caBundle from that
   * Certificate's Secret (run the webhook with --tls-cert/--tls-key and without --webhook-config-name).
   * https://cert-manager.io/docs/concepts/ca-injector/
   */
  certManagerCaFrom?: string;
}): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: opts.name,
      labels: { 'app.kubernetes.io/name': 'haproxy-peer-sync', 'app.kubernetes.io/component': 'webhook', ...opts.labels },
      ...(opts.certManagerCaFrom ? { annotations: { 'cert-manager.io/inject-ca-from': opts.certManagerCaFrom } } : {}),
    },
    webhooks: [mutatingWebhook(opts)],
  };
}
