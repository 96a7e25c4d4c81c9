/**
 * certs/ against the REAL kube-apiserver: webhook replicas sharing one self-generated chain through a
 * Secret (create-if-absent and replace at a resourceVersion, with real 409s), and the caBundle of a
 * MutatingWebhookConfiguration kept in sync and re-patched after being overwritten.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AdmissionregistrationV1Api, CoreV1Api, type V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from './harness/control-plane.ts';
import { SecretKeyPairSource, SECRET_KEYS } from '../certs/secret-source.ts';
import { kubeSecretStore, kubeWebhookConfigClient } from '../certs/kube-clients.ts';
import { CaBundleSync } from '../certs/ca-bundle.ts';
import { certificateInfo, pairIsConsistent, splitPemBundle } from '../certs/generate.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import { build, listen } from '../webhook/server.ts';
import { fetchHttps, silentLogger, TEST_CONFIG } from './support/webhook.ts';

const NS = 'hps-certs-test';
const HOSTS = [
  'hps-webhook',
  'hps-webhook.hps-certs-test',
  'hps-webhook.hps-certs-test.svc',
  'hps-webhook.hps-certs-test.svc.cluster.local',
];
const DAY = 86400_000;
let cp: ControlPlane | undefined;

before(async () => {
  cp = await startControlPlane();
  await cp.createNamespace(NS);
});
after(async () => {
  await cp?.stop();
});

test('three replicas starting at once share one chain through one Secret', async () => {
  const replicas = [1, 2, 3].map(
    () => new SecretKeyPairSource({ store: kubeSecretStore(cp!.kubeConfig, NS, 'shared-tls'), hosts: HOSTS }),
  );
  await Promise.all(replicas.map((r) => r.refresh()));
  const certs = new Set(replicas.map((r) => r.current()?.certPem));
  assert.equal(certs.size, 1, 'every replica serves the same certificate');
  const secret = await cp!.kubeConfig
    .makeApiClient(CoreV1Api)
    .readNamespacedSecret({ namespace: NS, name: 'shared-tls' });
  assert.equal(secret.type, 'kubernetes.io/tls');
  assert.equal(
    Buffer.from(secret.data?.[SECRET_KEYS.cert] ?? '', 'base64').toString(),
    replicas[0]?.current()?.certPem,
  );
  assert.ok(pairIsConsistent(replicas[0]!.current()!, HOSTS));
});

test('a renewal is written once at the read resourceVersion and adopted by the other replicas', async () => {
  let clock = new Date();
  const opts = { hosts: HOSTS, now: () => clock, certValidityDays: 90, renewBeforeMs: 30 * DAY };
  const a = new SecretKeyPairSource({ ...opts, store: kubeSecretStore(cp!.kubeConfig, NS, 'renewed-tls') });
  const b = new SecretKeyPairSource({ ...opts, store: kubeSecretStore(cp!.kubeConfig, NS, 'renewed-tls') });
  await a.refresh();
  await b.refresh();
  const first = a.current()!;
  clock = new Date(clock.getTime() + 70 * DAY); // 20 days left: due
  await Promise.all([a.refresh(), b.refresh()]);
  assert.notEqual(a.current()?.certPem, first.certPem);
  assert.equal(a.current()?.certPem, b.current()?.certPem, 'the race on replace had one winner; the other adopted it');
  assert.equal(a.current()?.caPem, first.caPem, 'same CA: the caBundle does not move');
  assert.ok(certificateInfo(a.current()!.certPem).notAfter.getTime() > clock.getTime() + 80 * DAY);
});

test('the store reports real conflicts: create over an existing Secret, replace at a stale resourceVersion', async () => {
  const store = kubeSecretStore(cp!.kubeConfig, NS, 'conflict-tls');
  // kubernetes.io/tls Secrets must carry both keys; their content is not validated.
  const data = (v: string) => ({ 'tls.crt': v, 'tls.key': v });
  const created = await store.create(data('a'));
  assert.notEqual(created, 'conflict');
  assert.equal(await store.create(data('b')), 'conflict');
  const rv = created === 'conflict' ? '' : created.resourceVersion;
  const replaced = await store.replace(data('c'), rv);
  assert.notEqual(replaced, 'conflict');
  assert.equal(await store.replace(data('d'), rv), 'conflict');
  assert.equal((await store.read())?.data['tls.crt'], 'c');
});

test('caBundle is synced into the named MutatingWebhookConfiguration and re-patched when overwritten', async () => {
  const admission = cp!.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const source = new SecretKeyPairSource({ store: kubeSecretStore(cp!.kubeConfig, NS, 'bundle-tls'), hosts: HOSTS });
  await source.start();
  after(() => source.stop());
  const hook = (name: string) => ({
    name,
    clientConfig: { service: { namespace: NS, name: 'hps-webhook', path: '/mutate', port: 443 } },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    // Matches no namespace: this registration must not affect anything else on the control plane.
    namespaceSelector: { matchLabels: { 'hps-test': 'never' } },
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Ignore',
  });
  const body: V1MutatingWebhookConfiguration = {
    metadata: { name: 'hps-bundle-test' },
    webhooks: [hook('a.haproxy-peer-sync.io'), hook('b.haproxy-peer-sync.io')],
  };
  await admission.createMutatingWebhookConfiguration({ body });
  await admission.createMutatingWebhookConfiguration({ body: { ...body, metadata: { name: 'someone-else' } } });

  const sync = new CaBundleSync({
    client: kubeWebhookConfigClient(cp!.kubeConfig),
    name: 'hps-bundle-test',
    source,
    intervalMs: 3_600_000,
  });
  const wanted = Buffer.from(source.current()!.caPem).toString('base64');
  const bundles = async (name: string) =>
    (await admission.readMutatingWebhookConfiguration({ name })).webhooks?.map((w) => w.clientConfig.caBundle);

  assert.equal(await sync.syncOnce(), 'patched');
  assert.deepEqual(await bundles('hps-bundle-test'), [wanted, wanted]);
  assert.equal(await sync.syncOnce(), 'unchanged');
  assert.deepEqual(await bundles('someone-else'), [undefined, undefined], 'only the named object is touched');

  // Someone re-applies the manifest without a caBundle.
  const current = await admission.readMutatingWebhookConfiguration({ name: 'hps-bundle-test' });
  await admission.replaceMutatingWebhookConfiguration({
    name: 'hps-bundle-test',
    body: { ...current, webhooks: [hook('a.haproxy-peer-sync.io'), hook('b.haproxy-peer-sync.io')] },
  });
  assert.deepEqual(await bundles('hps-bundle-test'), [undefined, undefined]);
  assert.equal(await sync.syncOnce(), 'patched');
  assert.deepEqual(await bundles('hps-bundle-test'), [wanted, wanted]);

  const missing = new CaBundleSync({
    client: kubeWebhookConfigClient(cp!.kubeConfig),
    name: 'does-not-exist',
    source,
    intervalMs: 3_600_000,
  });
  assert.equal(await missing.syncOnce(), 'missing');
});

const readSecret = async (name: string) =>
  cp!.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace: NS, name });
const secretValue = (secret: { data?: Record<string, string> }, key: string) =>
  Buffer.from(secret.data?.[key] ?? '', 'base64').toString();

test('an expiring CA is replaced and the old one stays in the bundle', async () => {
  let clock = new Date();
  const source = new SecretKeyPairSource({
    store: kubeSecretStore(cp!.kubeConfig, NS, 'ca-expiry-tls'),
    hosts: HOSTS,
    now: () => clock,
    caValidityDays: 100,
    certValidityDays: 60,
    renewBeforeMs: 20 * DAY,
  });
  await source.refresh();
  const oldCa = source.current()!.caPem;
  clock = new Date(clock.getTime() + 45 * DAY); // cert has 15 days left; the CA (55 left) would not outlive a new cert
  assert.equal(await source.refresh(), true);
  const bundle = splitPemBundle(source.current()!.caPem);
  assert.equal(bundle.length, 2, 'new CA first, the old one kept so clients that still trust it keep working');
  assert.equal(bundle[1], oldCa);
  assert.equal(secretValue(await readSecret('ca-expiry-tls'), SECRET_KEYS.ca), source.current()!.caPem);
});

test('a Secret holding garbage, or a certificate for other hosts, is replaced', async () => {
  const store = kubeSecretStore(cp!.kubeConfig, NS, 'garbage-tls');
  await store.create({ [SECRET_KEYS.cert]: 'nope', [SECRET_KEYS.key]: 'nope', [SECRET_KEYS.ca]: 'nope' });
  const source = new SecretKeyPairSource({ store, hosts: HOSTS });
  assert.equal(await source.refresh(), true);
  assert.ok(pairIsConsistent(source.current()!, HOSTS));
  assert.equal(secretValue(await readSecret('garbage-tls'), SECRET_KEYS.cert), source.current()!.certPem);
  const other = new SecretKeyPairSource({
    store: kubeSecretStore(cp!.kubeConfig, NS, 'garbage-tls'),
    hosts: ['elsewhere.svc'],
  });
  await other.refresh();
  assert.deepEqual(certificateInfo(other.current()!.certPem).dnsNames, ['elsewhere.svc']);
});

test('a rotation of the key pair re-patches the caBundle at once', async () => {
  const admission = cp!.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'hps-rotation-test' },
      webhooks: [
        {
          name: 'a.haproxy-peer-sync.io',
          clientConfig: { url: 'https://127.0.0.1:1/mutate' },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          namespaceSelector: { matchLabels: { 'hps-test': 'never' } },
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Ignore',
        },
      ],
    },
  });
  const first = new SecretKeyPairSource({ store: kubeSecretStore(cp!.kubeConfig, NS, 'rotation-a'), hosts: HOSTS });
  const second = new SecretKeyPairSource({ store: kubeSecretStore(cp!.kubeConfig, NS, 'rotation-b'), hosts: HOSTS });
  await Promise.all([first.refresh(), second.refresh()]);
  const source = new StaticKeyPairSource(first.current());
  await source.start();
  const results: string[] = [];
  let twice: () => void = () => undefined;
  const patchedTwice = new Promise<void>((resolve) => {
    twice = resolve;
  });
  // An hour between periodic passes: only the rotation itself can cause the second patch.
  const sync = new CaBundleSync({
    client: kubeWebhookConfigClient(cp!.kubeConfig),
    name: 'hps-rotation-test',
    source,
    intervalMs: 3_600_000,
    onResult: (r) => {
      results.push(r);
      if (results.filter((x) => x === 'patched').length === 2) twice();
    },
  });
  await sync.start();
  source.replace(second.current()!);
  await patchedTwice;
  await sync.stop();
  const mwc = await admission.readMutatingWebhookConfiguration({ name: 'hps-rotation-test' });
  assert.equal(mwc.webhooks?.[0]?.clientConfig.caBundle, Buffer.from(second.current()!.caPem).toString('base64'));
});

test('a certificate due for renewal is renewed through the Secret and served without a restart, under the same CA', async () => {
  // Issued 25 days ago (so real clients accept it), valid 30 days, renewed when 10 are left.
  let clock = new Date(Date.now() - 25 * DAY);
  const source = new SecretKeyPairSource({
    store: kubeSecretStore(cp!.kubeConfig, NS, 'served-tls'),
    hosts: ['127.0.0.1'],
    now: () => clock,
    certValidityDays: 30,
    renewBeforeMs: 10 * DAY,
  });
  await source.start();
  after(() => source.stop());
  const app = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs: source });
  after(() => app.close());
  const { port } = await listen(app, { host: '127.0.0.1', port: 0 });
  const caPem = source.current()!.caPem;
  const before = await fetchHttps(`https://127.0.0.1:${port}/readyz`, { ca: caPem });
  clock = new Date(); // 5 days left: due
  assert.equal(await source.refresh(), true);
  const renewed = await fetchHttps(`https://127.0.0.1:${port}/readyz`, { ca: caPem });
  assert.equal(renewed.status, 200);
  assert.notEqual(renewed.peer.serialNumber, before.peer.serialNumber);
  assert.equal(renewed.peer.serialNumber, certificateInfo(source.current()!.certPem).serialNumber);
});
