import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caBundlePatch } from './ca-bundle.ts';

const b64 = Buffer.from('CA-PEM').toString('base64');

test('only webhooks whose caBundle differs are patched, each guarded by a test of its name', () => {
  const ops = caBundlePatch({ webhooks: [{ name: 'a', caBundle: b64 }, { name: 'b' }] }, 'CA-PEM');
  assert.deepEqual(ops, [
    { op: 'test', path: '/webhooks/1/name', value: 'b' },
    { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: b64 },
  ]);
});
