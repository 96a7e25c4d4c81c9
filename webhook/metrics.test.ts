// Label values from requests are mapped to a fixed set before they become series (each new value is
// a series the webhook keeps for its whole life).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { build } from './server.ts';
import { errorCodeLabel, operationLabel } from './metrics.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import { ERRORS } from '../common/errors.ts';
import { podReview, silentLogger, TEST_CONFIG, testKeyPair } from '../test/support/webhook.ts';

const keyPairs = new StaticKeyPairSource(testKeyPair());
await keyPairs.start();
const app = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs });
after(() => app.close());

test('an operation admission/v1 does not have is never a series of its own', async () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'web' },
    spec: { containers: [{ name: 'c', image: 'i' }] },
  };
  const sent = Array.from({ length: 20 }, (_, i) => `OP-${i}-${'x'.repeat(i * 10)}`);
  for (const operation of [...sent, 'DELETE', 'CREATE']) {
    await app.inject({ method: 'POST', url: '/mutate', payload: podReview(pod, { operation }) });
  }
  const series = new Map(
    (await app.inject('/metrics')).body.split('\n').flatMap((l) => {
      const m = /^haproxy_peer_sync_webhook_admission_requests_total\{operation="([^"]*)"\} (\d+)$/.exec(l);
      return m ? [[m[1], Number(m[2])] as const] : [];
    }),
  );
  assert.equal(series.get('CREATE'), 1);
  assert.equal(series.get('DELETE'), 1);
  // Refused as an undecodable review ("invalid") or counted as "other": either way under a fixed value.
  const rest = [...series.keys()].filter((op) => op !== 'CREATE' && op !== 'DELETE');
  assert.ok(
    rest.every((op) => op === 'invalid' || op === 'other'),
    `operation values served: ${[...series.keys()].join(', ')}`,
  );
  assert.equal((series.get('invalid') ?? 0) + (series.get('other') ?? 0), 20);
});

test('label mappings: admission/v1 operations and our error codes pass, anything else is "other"', () => {
  assert.deepEqual(['CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'invalid', 'create', 'PATCH', ''].map(operationLabel), [
    'CREATE',
    'UPDATE',
    'DELETE',
    'CONNECT',
    'invalid',
    'other',
    'other',
    'other',
  ]);
  const { HPS_BAD_JSON, HPS_INTERNAL } = ERRORS;
  assert.deepEqual(
    [
      HPS_BAD_JSON.code,
      HPS_INTERNAL.code,
      'FST_ERR_BAD_URL',
      'ECONNRESET',
      'HPS_bad',
      'HPS_NOT_IN_THE_CATALOGUE',
      `HPS_${'X'.repeat(60)}`,
    ].map(errorCodeLabel),
    [HPS_BAD_JSON.code, HPS_INTERNAL.code, 'other', 'other', 'other', 'other', 'other'],
  );
});
