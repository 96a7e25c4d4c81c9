import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretKeyPairSource, SECRET_KEYS } from './secret-source.ts';
import { MemorySecretStore } from './memory-secret-store.ts';
import { certificateInfo, splitPemBundle } from './generate.ts';

const hosts = ['hps-webhook.hps-system.svc', '127.0.0.1'];
const DAY = 86400_000;

test('two replicas racing on an absent Secret end up serving one chain', async () => {
  const store = new MemorySecretStore();
  const a = new SecretKeyPairSource({ store, hosts });
  const b = new SecretKeyPairSource({ store, hosts });
  await Promise.all([a.refresh(), b.refresh()]);
  assert.equal(a.current()?.certPem, b.current()?.certPem);
  assert.equal(a.current()?.caPem, b.current()?.caPem);
  assert.equal(store.writes, 1, 'the loser of the create adopted the winner\'s Secret');
});

test('a certificate due for renewal is replaced once, keeping the CA, and every replica adopts it', async () => {
  const store = new MemorySecretStore();
  let clock = new Date('2026-01-01T00:00:00Z');
  const opts = { store, hosts, now: () => clock, certValidityDays: 90, renewBeforeMs: 30 * DAY };
  const a = new SecretKeyPairSource(opts);
  const b = new SecretKeyPairSource(opts);
  await a.refresh();
  await b.refresh();
  const first = a.current();
  const changes: string[] = [];
  b.subscribe((p) => changes.push(p.certPem));

  clock = new Date(clock.getTime() + 45 * DAY); // still 45 days left: nothing to do
  assert.equal(await a.refresh(), false);

  clock = new Date(clock.getTime() + 20 * DAY); // 25 days left: renew
  assert.equal(await a.refresh(), true);
  assert.equal(await b.refresh(), true);
  assert.equal(store.writes, 2);
  assert.notEqual(a.current()?.certPem, first?.certPem);
  assert.equal(a.current()?.caPem, first?.caPem, 'the CA is kept, so the caBundle does not change');
  assert.deepEqual(changes, [a.current()?.certPem]);
  assert.equal(certificateInfo(a.current()!.certPem).notAfter.getTime(), clock.getTime() + 90 * DAY);
});

test('an expiring CA is replaced and the old one stays in the bundle', async () => {
  const store = new MemorySecretStore();
  let clock = new Date('2026-01-01T00:00:00Z');
  const source = new SecretKeyPairSource({ store, hosts, now: () => clock, caValidityDays: 100, certValidityDays: 60, renewBeforeMs: 20 * DAY });
  await source.refresh();
  const oldCa = source.current()!.caPem;
  clock = new Date(clock.getTime() + 45 * DAY); // cert has 15 days left; CA (55 left) would not outlive a new cert
  await source.refresh();
  const bundle = splitPemBundle(source.current()!.caPem);
  assert.equal(bundle.length, 2);
  assert.equal(bundle[1], oldCa);
  assert.equal((await store.read())?.data[SECRET_KEYS.ca], source.current()!.caPem);
});

test('a Secret with garbage or for other hosts is replaced', async () => {
  const store = new MemorySecretStore();
  await store.create({ [SECRET_KEYS.cert]: 'nope', [SECRET_KEYS.key]: 'nope', [SECRET_KEYS.ca]: 'nope' });
  const source = new SecretKeyPairSource({ store, hosts });
  assert.equal(await source.refresh(), true);
  assert.equal(store.writes, 2);
  const other = new SecretKeyPairSource({ store, hosts: ['elsewhere.svc'] });
  await other.refresh();
  assert.deepEqual(certificateInfo(other.current()!.certPem).dnsNames, ['elsewhere.svc']);
});
