import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mutatingWebhookConfiguration } from './registration.ts';

test('the registration selects labelled pods on CREATE, fails closed, and never covers kube-system', () => {
  const config = mutatingWebhookConfiguration({ name: 'haproxy-peer-sync', target: { service: { namespace: 'hps-system', name: 'hps-webhook' } }, excludeNamespaces: ['kube-system', 'hps-system'] });
  const hook = config.webhooks?.[0];
  assert.equal(hook?.name, 'inject.haproxy-peer-sync.io');
  assert.deepEqual(hook?.clientConfig, { service: { namespace: 'hps-system', name: 'hps-webhook', path: '/mutate', port: 443 } });
  assert.deepEqual(hook?.objectSelector, { matchLabels: { 'haproxy-peer-sync.io/inject': 'true' } });
  assert.deepEqual(hook?.namespaceSelector, { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'hps-system'] }] });
  assert.deepEqual(hook?.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
  assert.deepEqual([hook?.failurePolicy, hook?.sideEffects, hook?.reinvocationPolicy, hook?.timeoutSeconds, hook?.admissionReviewVersions],
    ['Fail', 'None', 'IfNeeded', 10, ['v1']]);
});

test('with cert-manager, the CA injector annotation names the Certificate', () => {
  const config = mutatingWebhookConfiguration({ name: 'x', target: { url: 'https://127.0.0.1:8443/mutate' }, certManagerCaFrom: 'hps-system/hps-webhook' });
  assert.deepEqual(config.metadata?.annotations, { 'cert-manager.io/inject-ca-from': 'hps-system/hps-webhook' });
  assert.equal(config.webhooks?.[0]?.clientConfig.caBundle, undefined);
});
