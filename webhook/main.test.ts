// The webhook role as a process: --help, a bad flag, and a start/serve/SIGTERM cycle with
// certificate files (no cluster needed with --access-check=false and no --webhook-config-name).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fetchHttps, podReview, testKeyPair } from '../test/support/webhook.ts';

const cli = fileURLToPath(new URL('../bin/haproxy-peer-sync.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hps-webhook-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('--help lists the flags with their variables', () => {
  const res = spawnSync(process.execPath, [cli, 'webhook', '--help'], { encoding: 'utf8' });
  assert.equal(res.status, 0);
  for (const flag of [
    '--listen',
    '--port',
    '--tls-cert',
    '--secret-name',
    '--webhook-config-name',
    '--image',
    '--sidecar-mode',
    '--cpu-request',
    '--log-level',
  ]) {
    assert.ok(res.stdout.includes(flag), flag);
  }
});

test('a bad flag exits 2 naming it', () => {
  const res = spawnSync(process.execPath, [cli, 'webhook', '--sidecar-mode', 'sometimes'], { encoding: 'utf8' });
  assert.equal(res.status, 2);
  assert.match(res.stderr, /--sidecar-mode: "sometimes" is not one of native, regular/);
});

test('serves /mutate over TLS from certificate files and stops on SIGTERM', async () => {
  const pair = testKeyPair();
  writeFileSync(join(dir, 'tls.crt'), pair.certPem);
  writeFileSync(join(dir, 'tls.key'), pair.keyPem);
  writeFileSync(join(dir, 'ca.crt'), pair.caPem);
  const child = spawn(
    process.execPath,
    [
      cli,
      'webhook',
      '--listen',
      '127.0.0.1',
      '--port',
      '0',
      '--access-check',
      'false',
      '--tls-cert',
      join(dir, 'tls.crt'),
      '--tls-key',
      join(dir, 'tls.key'),
      '--tls-ca',
      join(dir, 'ca.crt'),
      '--image',
      'example/hps:1',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout });
  let port = 0;
  const logs: Array<Record<string, unknown>> = [];
  for await (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    logs.push(entry);
    if (entry['msg'] === 'serving certificate loaded') break;
    if (typeof entry['port'] === 'number') port = entry['port'];
  }
  assert.ok(port > 0);
  const base = `https://127.0.0.1:${port}`;
  assert.equal((await fetchHttps(`${base}/readyz`, { ca: pair.caPem })).status, 200);
  const pod = {
    metadata: { name: 'p', namespace: 'default', labels: { app: 'h', 'haproxy-peer-sync.io/inject': 'true' } },
    spec: { containers: [{ name: 'haproxy', image: 'haproxy' }] },
  };
  const res = await fetchHttps(`${base}/mutate`, {
    ca: pair.caPem,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(podReview(pod)),
  });
  assert.equal(res.status, 200);
  const patch = Buffer.from(
    (JSON.parse(res.body) as { response: { patch: string } }).response.patch,
    'base64',
  ).toString();
  assert.match(patch, /example\/hps:1/);
  child.kill('SIGTERM');
  lines.close();
  assert.equal(await exited, 0);
});
