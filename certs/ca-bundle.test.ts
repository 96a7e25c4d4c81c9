import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaBundleSync, caBundlePatch, type JsonPatchOp, type WebhookConfigClient, type WebhookConfigView } from './ca-bundle.ts';
import { StaticKeyPairSource } from './key-pair.ts';

const pair = { certPem: 'cert', keyPem: 'key', caPem: 'CA-PEM', notAfter: new Date(0) };
const b64 = Buffer.from('CA-PEM').toString('base64');

test('only webhooks whose caBundle differs are patched, each guarded by a test of its name', () => {
  const ops = caBundlePatch({ webhooks: [{ name: 'a', caBundle: b64 }, { name: 'b' }] }, 'CA-PEM');
  assert.deepEqual(ops, [
    { op: 'test', path: '/webhooks/1/name', value: 'b' },
    { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: b64 },
  ]);
});

/** A fake apiserver object that applies the patch like the real one (tests included). */
class FakeClient implements WebhookConfigClient {
  config: { webhooks: Array<{ name: string; caBundle?: string | undefined }> } | undefined = { webhooks: [{ name: 'mutate.haproxy-peer-sync.io' }] };
  patches = 0;
  async read(): Promise<WebhookConfigView | undefined> { return this.config === undefined ? undefined : structuredClone(this.config); }
  async patch(_name: string, ops: readonly JsonPatchOp[]): Promise<'ok' | 'conflict'> {
    this.patches++;
    for (const op of ops) {
      const i = Number(op.path.split('/')[2]);
      const hook = this.config?.webhooks[i];
      if (op.op === 'test' && hook?.name !== op.value) return 'conflict';
      if (op.op === 'add' && hook !== undefined) hook.caBundle = op.value as string;
    }
    return 'ok';
  }
}

test('the caBundle is set, left alone when right, and re-patched when overwritten', async () => {
  const client = new FakeClient();
  const source = new StaticKeyPairSource(pair);
  const sync = new CaBundleSync({ client, name: 'x', source, intervalMs: 3_600_000 });
  assert.equal(await sync.syncOnce(), 'no-key-pair');
  await source.start();
  assert.equal(await sync.syncOnce(), 'patched');
  assert.equal(client.config?.webhooks[0]?.caBundle, b64);
  assert.equal(await sync.syncOnce(), 'unchanged');
  client.config.webhooks[0].caBundle = undefined; // someone re-applied the manifest
  assert.equal(await sync.syncOnce(), 'patched');
  assert.equal(client.patches, 2);
  client.config = undefined;
  assert.equal(await sync.syncOnce(), 'missing');
});

test('a rotation of the key pair triggers a pass at once', async () => {
  const client = new FakeClient();
  const source = new StaticKeyPairSource(pair);
  await source.start();
  const results: string[] = [];
  let resolveSecond: () => void = () => undefined;
  const second = new Promise<void>((r) => { resolveSecond = r; });
  const sync = new CaBundleSync({ client, name: 'x', source, intervalMs: 3_600_000, onResult: (r) => { results.push(r); if (results.length === 2) resolveSecond(); } });
  await sync.start();
  source.replace({ ...pair, caPem: 'NEW-CA' });
  await second;
  await sync.stop();
  assert.deepEqual(results, ['patched', 'patched']);
  assert.equal(client.config?.webhooks[0]?.caBundle, Buffer.from('NEW-CA').toString('base64'));
});
