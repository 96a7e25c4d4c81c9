import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cachedAccessWarnings, type AccessQuery } from './access-warnings.ts';

test('a ServiceAccount that may not watch EndpointSlices gets one warning; answers are cached', async () => {
  const asked: AccessQuery[] = [];
  let clock = 0;
  const warnings = cachedAccessWarnings({
    reviewer: async (q) => {
      asked.push(q);
      return q.verb === 'list';
    },
    ttlMs: 1000,
    timeoutMs: 60_000,
    now: () => clock,
  });
  const first = await warnings('web', 'haproxy');
  assert.equal(first.length, 1);
  assert.match(
    first[0] ?? '',
    /ServiceAccount web\/haproxy may not watch endpointslices\.discovery\.k8s\.io in namespace web/,
  );
  assert.deepEqual(
    asked.map((q) => [q.user, q.verb, q.namespace, q.group, q.resource]),
    [
      ['system:serviceaccount:web:haproxy', 'list', 'web', 'discovery.k8s.io', 'endpointslices'],
      ['system:serviceaccount:web:haproxy', 'watch', 'web', 'discovery.k8s.io', 'endpointslices'],
    ],
  );
  await warnings('web', 'haproxy');
  assert.equal(asked.length, 2, 'cached');
  clock = 2000;
  await warnings('web', 'haproxy');
  assert.equal(asked.length, 4, 'expired');
});

test('an allowed ServiceAccount gets no warning; errors give none and are not cached', async () => {
  let fail = true;
  const errors: Error[] = [];
  const warnings = cachedAccessWarnings({
    reviewer: async () => {
      if (fail) throw new Error('apiserver down');
      return true;
    },
    ttlMs: 1000,
    timeoutMs: 60_000,
    now: () => 0,
    onError: (err) => errors.push(err),
  });
  assert.deepEqual(await warnings('web', 'default'), []);
  assert.equal(errors.length, 1);
  assert.equal(warnings.cacheSize(), 0);
  fail = false;
  assert.deepEqual(await warnings('web', 'default'), []);
  assert.equal(warnings.cacheSize(), 1);
});

test('a reviewer that never answers yields no warning instead of a stuck admission', async () => {
  const warnings = cachedAccessWarnings({
    reviewer: () => new Promise(() => undefined),
    ttlMs: 1000,
    timeoutMs: 1,
    now: () => 0,
  });
  assert.deepEqual(await warnings('web', 'default'), []);
});
