import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadWebhookConfig } from './options.ts';
import { ConfigError } from '../common/errors.ts';

test('self-generated certificates cover every DNS form of the Service, defaults filled', () => {
  const c = loadWebhookConfig(
    ['--secret-name', 'hps-webhook-tls', '--service-name', 'hps-webhook', '--extra-hosts', '127.0.0.1'],
    { POD_NAMESPACE: 'hps-system' },
    '1.2.3',
  );
  assert.deepEqual(c.certs, {
    kind: 'secret',
    name: 'hps-webhook-tls',
    namespace: 'hps-system',
    hosts: [
      'hps-webhook',
      'hps-webhook.hps-system',
      'hps-webhook.hps-system.svc',
      'hps-webhook.hps-system.svc.cluster.local',
      '127.0.0.1',
    ],
  });
  assert.equal(c.image, 'ghcr.io/haproxy-peer-sync/haproxy-peer-sync:1.2.3');
  assert.equal(c.port, 8443);
  assert.equal(c.sidecarMode, 'native');
  assert.deepEqual(c.resources, { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '128Mi' } });
  assert.equal(c.drainSeconds, 5, 'an injected HAProxy drains for 5 s by default');
  assert.ok(Object.isFrozen(c));
});

test('certificate files, with environment variables', () => {
  const c = loadWebhookConfig(
    [],
    {
      HPS_TLS_CERT: '/tls/tls.crt',
      HPS_TLS_KEY: '/tls/tls.key',
      HPS_SIDECAR_MODE: 'regular',
      HPS_MEMORY_LIMIT: '64Mi',
    },
    '1',
  );
  assert.deepEqual(c.certs, { kind: 'files', certFile: '/tls/tls.crt', keyFile: '/tls/tls.key', caFile: undefined });
  assert.equal(c.sidecarMode, 'regular');
  assert.equal(c.resources.limits['memory'], '64Mi');
});

test('every problem is reported together, naming the flags', () => {
  assert.throws(
    () => loadWebhookConfig(['--port', 'x', '--cpu-limit', 'lots', '--drain-seconds', '5s'], {}, '1'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /--drain-seconds: "5s" is not a whole number of seconds/);
      assert.match(err.message, /--port: "x" is not a port number/);
      assert.match(err.message, /--cpu-limit: "lots" is not a Kubernetes quantity/);
      return true;
    },
  );
  assert.throws(() => loadWebhookConfig([], {}, '1'), /choose a certificate source/);
  assert.throws(() => loadWebhookConfig(['--tls-cert', '/a'], {}, '1'), /--tls-cert and --tls-key go together/);
  assert.throws(
    () => loadWebhookConfig(['--secret-name', 's'], {}, '1'),
    /--secret-namespace is required.*--service-name is required/,
  );
  assert.throws(
    () => loadWebhookConfig(['--secret-name', 's', '--tls-cert', '/a', '--tls-key', '/b'], {}, '1'),
    /not both/,
  );
});
