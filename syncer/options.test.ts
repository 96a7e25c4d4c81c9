import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSyncerConfig } from './options.ts';
import { ConfigError } from '../common/errors.ts';

const env = { HPS_SERVICE: 'web', POD_NAME: 'web-0', POD_IP: '10.0.0.1', POD_NAMESPACE: 'shop' };

test('defaults, and the namespace from the downward API', () => {
  const c = loadSyncerConfig([], env);
  assert.equal(c.namespace, 'shop');
  assert.equal(c.mode, 'direct');
  assert.equal(c.peersSection, 'haproxy-peers');
  assert.equal(c.peerPort, 10000);
  assert.equal(c.runtimeDir, '/var/run/haproxy-peer-sync');
  assert.deepEqual([c.coalesceWindowMs, c.coalesceMaxMs, c.healthPort], [200, 1000, 8585]);
  assert.ok(Object.isFrozen(c));
});

test('flags win; durations take units', () => {
  const c = loadSyncerConfig(['--namespace=other', '--coalesce-window=50ms', '--coalesce-max', '2s'], env);
  assert.deepEqual([c.namespace, c.coalesceWindowMs, c.coalesceMaxMs], ['other', 50, 2000]);
});

test('bad and missing values are reported together, naming each flag', () => {
  assert.throws(
    () => loadSyncerConfig(['--mode=magic', '--peer-port=0'], {}),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      for (const flag of ['--service', '--pod-name', '--pod-ip', '--mode', '--peer-port'])
        assert.match(text, new RegExp(flag));
      return true;
    },
  );
  assert.throws(() => loadSyncerConfig([], { ...env, POD_NAMESPACE: undefined }), /--namespace is required/);
  assert.throws(() => loadSyncerConfig(['--mode=dataplaneapi'], env), /--credentials-file is required/);
  assert.throws(() => loadSyncerConfig(['--coalesce-window=2s', '--coalesce-max=1s'], env), /--coalesce-max/);
});
