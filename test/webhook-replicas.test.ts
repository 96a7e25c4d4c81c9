/**
 * Two `haproxy-peer-sync webhook` processes (the role's main.ts, as the Deployment runs it) against the
 * REAL kube-apiserver, both told to self-generate their certificate into the same Secret: they must
 * serve one chain, write the caBundle of the named MutatingWebhookConfiguration, and stop cleanly on
 * SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from './harness/control-plane.ts';
import { waitFor } from './harness/processes.ts';
import { fetchHttps } from './support/webhook.ts';
import { mutatingWebhookConfiguration } from './support/registration.ts';

const cli = fileURLToPath(new URL('../bin/haproxy-peer-sync.ts', import.meta.url));
const NS = 'hps-system';
const CONFIG_NAME = 'haproxy-peer-sync-replicas-test';
let cp: ControlPlane | undefined;
const children: ChildProcess[] = [];

before(async () => {
  cp = await startControlPlane();
  await cp.createNamespace(NS);
  // Fenced to a namespace label nothing carries: only the caBundle sync is under test here.
  await cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
    body: mutatingWebhookConfiguration({
      name: CONFIG_NAME,
      target: { service: { namespace: NS, name: 'hps-webhook' } },
      namespaceLabels: { 'hps-test': 'never' },
    }),
  });
});

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await cp?.stop();
});

/** Starts one replica; resolves with its port once it logged that its certificate is loaded. */
async function startReplica(): Promise<{ child: ChildProcess; port: number; exited: Promise<number | null> }> {
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
      '--secret-name',
      'hps-webhook-tls',
      '--secret-namespace',
      NS,
      '--service-name',
      'hps-webhook',
      '--extra-hosts',
      '127.0.0.1',
      '--webhook-config-name',
      CONFIG_NAME,
      '--ca-bundle-interval',
      '1s',
    ],
    { env: { ...process.env, KUBECONFIG: cp!.kubeconfigPath }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout });
  let port = 0;
  for await (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (typeof entry['port'] === 'number') port = entry['port'];
    if (entry['msg'] === 'serving certificate loaded') break;
  }
  child.stdout.resume(); // keep draining its log
  assert.ok(port > 0, 'the replica logged its port');
  return { child, port, exited };
}

test('two replicas serve one self-generated chain, sync the caBundle, and stop on SIGTERM', async () => {
  const [a, b] = await Promise.all([startReplica(), startReplica()]);
  const secret = await cp!.kubeConfig
    .makeApiClient(CoreV1Api)
    .readNamespacedSecret({ namespace: NS, name: 'hps-webhook-tls' });
  const caPem = Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString();
  const ra = await fetchHttps(`https://127.0.0.1:${a.port}/readyz`, { ca: caPem });
  const rb = await fetchHttps(`https://127.0.0.1:${b.port}/readyz`, { ca: caPem });
  assert.equal(ra.status, 200);
  assert.equal(rb.status, 200);
  assert.equal(ra.peer.serialNumber, rb.peer.serialNumber, 'both replicas serve the same certificate');
  assert.ok(ra.peer.subjectaltname?.includes('DNS:hps-webhook.hps-system.svc'));

  const admission = cp!.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const wanted = Buffer.from(caPem).toString('base64');
  await waitFor(
    async () =>
      (await admission.readMutatingWebhookConfiguration({ name: CONFIG_NAME })).webhooks?.[0]?.clientConfig.caBundle ===
      wanted,
    { what: 'the caBundle sync', timeoutMs: 30_000 },
  );

  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  assert.equal(await a.exited, 0);
  assert.equal(await b.exited, 0);
});
