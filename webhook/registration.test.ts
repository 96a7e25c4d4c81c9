// deploy/mutatingwebhookconfiguration.yaml, the one webhook configuration, read as an admin applies it:
// the policy a user relies on, and its agreement with the code and with the rest of deploy/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { V1LabelSelector, V1Namespace, V1Service } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { INJECT_LABEL } from './annotations.ts';
import {
  deployedWebhookConfiguration,
  mutatingWebhookConfiguration,
  WEBHOOK_NAME,
} from '../test/support/registration.ts';

const deployFile = <T>(name: string): T =>
  parse(readFileSync(new URL(`../deploy/${name}`, import.meta.url), 'utf8')) as T;
const config = deployedWebhookConfiguration();
const hook = config.webhooks?.[0];

/** Whether a label selector selects an object with these labels (the apiserver's rules, the four operators). */
function selects(selector: V1LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined) return true;
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every((e) => {
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        return value !== undefined && (e.values ?? []).includes(value);
      case 'NotIn':
        return value === undefined || !(e.values ?? []).includes(value);
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
      default:
        throw new Error(`unknown operator ${e.operator}`);
    }
  });
  return byLabel && byExpression;
}

/** A namespace's labels as the apiserver stores them: it adds kubernetes.io/metadata.name to every one. */
const namespaceLabels = (name: string, labels: Record<string, string> = {}): Record<string, string> => ({
  ...labels,
  'kubernetes.io/metadata.name': name,
});

test('deploy/ has one webhook, called on pod CREATE only, answering AdmissionReview v1', () => {
  assert.equal(config.kind, 'MutatingWebhookConfiguration');
  assert.equal(config.webhooks?.length, 1);
  assert.equal(hook?.name, WEBHOOK_NAME);
  assert.deepEqual(hook?.rules, [
    { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' },
  ]);
  assert.deepEqual(hook?.admissionReviewVersions, ['v1'], 'the handler refuses v1beta1');
  assert.equal(hook?.matchPolicy, 'Equivalent');
});

test('only pods carrying the inject label the code checks are sent to the webhook', () => {
  assert.deepEqual(hook?.objectSelector, { matchLabels: { [INJECT_LABEL]: 'true' } });
  assert.equal(selects(hook?.objectSelector, { app: 'web' }), false);
  assert.equal(selects(hook?.objectSelector, { [INJECT_LABEL]: 'false' }), false);
});

test('a labelled pod is refused while the webhook is down, and kubectl --dry-run=server works', () => {
  // Fail: a replica started without its syncer would silently replicate nothing.
  assert.equal(hook?.failurePolicy, 'Fail');
  // None: the answer depends on the request alone (SubjectAccessReviews only read), so a dry run may call it.
  assert.equal(hook?.sideEffects, 'NoneOnDryRun', 'its only side effect, an Event, is skipped on dry runs');
  // IfNeeded: called again after a later webhook changes the pod; the handler leaves an injected pod alone.
  assert.equal(hook?.reinvocationPolicy, 'IfNeeded');
});

test("one timeout, longer than the access check the handler may wait for, within the API's 1-30 s", () => {
  // The injection is pure computation (milliseconds); the SubjectAccessReview gives up after 2 s (webhook/main.ts).
  assert.equal(hook?.timeoutSeconds, 5);
});

test('the webhook never covers its own namespace or kube-system, so it can always be repaired; other namespaces are covered', () => {
  const own = deployFile<V1Namespace>('namespace.yaml');
  const ownName = own.metadata?.name ?? '';
  assert.equal(
    selects(hook?.namespaceSelector, namespaceLabels(ownName, own.metadata?.labels)),
    false,
    `${ownName} is not selected`,
  );
  assert.equal(selects(hook?.namespaceSelector, namespaceLabels('kube-system')), false, 'kube-system is not selected');
  assert.equal(selects(hook?.namespaceSelector, namespaceLabels('default')), true, 'default is selected');
  assert.equal(
    selects(hook?.namespaceSelector, namespaceLabels('shop', { team: 'web' })),
    true,
    'any other namespace is selected',
  );
});

test("the apiserver calls the Service deploy/ creates, on /mutate, and the webhook keeps this object's caBundle", () => {
  const service = deployFile<V1Service>('service.yaml');
  assert.deepEqual(hook?.clientConfig.service, {
    name: service.metadata?.name,
    namespace: service.metadata?.namespace,
    path: '/mutate',
    port: service.spec?.ports?.[0]?.port,
  });
  assert.equal(hook?.clientConfig.caBundle, undefined, 'filled in by the webhook (or cert-manager), never shipped');
  const deployment = readFileSync(new URL('../deploy/deployment.yaml', import.meta.url), 'utf8');
  assert.match(deployment, new RegExp(`--webhook-config-name=${config.metadata?.name ?? '?'}\\n`));
});

test("a test registration is deploy/'s, re-pointed and fenced: every policy field as it ships", () => {
  const registered = mutatingWebhookConfiguration({
    name: 'hps-test',
    webhookName: 'again.haproxy-peer-sync.io',
    target: { url: 'https://127.0.0.1:8443/mutate' },
    caBundle: 'Q0E=',
    namespaceLabels: { 'hps-test': 'webhook' },
    objectSelector: false,
  });
  const again = registered.webhooks?.[0];
  assert.equal(registered.metadata?.name, 'hps-test');
  assert.equal(again?.name, 'again.haproxy-peer-sync.io');
  assert.deepEqual(again?.clientConfig, { url: 'https://127.0.0.1:8443/mutate', caBundle: 'Q0E=' });
  assert.equal(again?.objectSelector, undefined);
  assert.deepEqual(again?.namespaceSelector, { ...hook?.namespaceSelector, matchLabels: { 'hps-test': 'webhook' } });
  for (const field of [
    'rules',
    'failurePolicy',
    'sideEffects',
    'timeoutSeconds',
    'reinvocationPolicy',
    'admissionReviewVersions',
    'matchPolicy',
  ] as const) {
    assert.deepEqual(again?.[field], hook?.[field], field);
  }
  const inCluster = mutatingWebhookConfiguration({ name: 'x', target: { service: { namespace: 'ns', name: 'svc' } } })
    .webhooks?.[0];
  assert.deepEqual(inCluster?.clientConfig, { service: { namespace: 'ns', name: 'svc', path: '/mutate', port: 443 } });
  assert.deepEqual(inCluster?.objectSelector, hook?.objectSelector);
});
