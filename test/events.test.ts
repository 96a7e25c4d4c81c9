/**
 * Kubernetes Events as an operator meets them, on the real node: a Deployment whose pods the webhook
 * denies gets a Warning `InjectionDenied` on its ReplicaSet (`kubectl describe rs` lists it), and a
 * replica whose HAProxy rejects a reload gets a Warning `ReloadFailed` on its pod (`kubectl describe
 * pod` lists it). The reload failure is provoked the way it happens in a cluster: the user's ConfigMap
 * is edited into a configuration HAProxy refuses, and a scale-in makes the remaining replicas reload.
 * Repeats are rate-limited: the ReplicaSet's retries and the syncer's retries add no Event.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from './harness/processes.ts';
import { ERRORS } from '../common/errors.ts';
import { sandboxForTests } from './harness/sandbox.ts';
import { NS, bringUpExample, waitConverged } from './harness/e2e-example.ts';

const sb = sandboxForTests();

interface CoreEvent {
  readonly reason: string;
  readonly type: string;
  readonly message?: string;
  readonly note?: string;
  readonly involvedObject: { kind: string; name: string; uid?: string };
  readonly reportingComponent?: string;
}

/** `kubectl get events --field-selector reason=…`, as the README tells an operator to look. */
async function events(reason: string): Promise<CoreEvent[]> {
  return (
    JSON.parse(await sb().kubectl('get', 'events', '-n', NS, '--field-selector', `reason=${reason}`, '-o', 'json')) as {
      items: CoreEvent[];
    }
  ).items;
}

/** A Deployment of labelled pods with an annotation the webhook refuses (peer-port "abc"). */
const DENIED = `apiVersion: apps/v1
kind: Deployment
metadata: { name: denied, namespace: ${NS} }
spec:
  replicas: 1
  selector: { matchLabels: { app: denied } }
  template:
    metadata:
      labels: { app: denied, haproxy-peer-sync.io/inject: "true" }
      annotations: { haproxy-peer-sync.io/service: haproxy, haproxy-peer-sync.io/peer-port: "abc" }
    spec:
      containers: [{ name: haproxy, image: haproxy:2.6 }]
`;

test("a denied injection: a Warning InjectionDenied on the Deployment's ReplicaSet, once despite its retries", async (t) => {
  await bringUpExample(sb());
  const file = `${sb().dir}/denied.yaml`;
  await writeFile(file, DENIED);
  await sb().kubectl('apply', '-f', file);
  const rs = await waitFor(
    async () =>
      (await sb().kubectl('get', 'rs', '-n', NS, '-l', 'app=denied', '-o', 'name'))
        .trim()
        .replace(/^replicaset\.apps\//, '') || false,
    { what: 'the ReplicaSet of the denied Deployment', timeoutMs: 60_000, intervalMs: 250 },
  );
  const [event] = await waitFor(
    async () => {
      const e = (await events('InjectionDenied')).filter((x) => x.involvedObject.name === rs);
      return e.length > 0 ? e : false;
    },
    { what: 'an InjectionDenied Event on the ReplicaSet', timeoutMs: 60_000, intervalMs: 500 },
  );
  assert.equal(event?.type, 'Warning');
  assert.equal(event?.involvedObject.kind, 'ReplicaSet');
  assert.match(event?.message ?? '', /haproxy-peer-sync denied a pod of this workload: .*peer-port/);
  const describe = await sb().kubectl('describe', 'rs', '-n', NS, rs);
  assert.match(describe, /Warning\s+InjectionDenied\s/, describe);
  // The ReplicaSet controller retries with backoff (about ten times in 30 s): still one Event per webhook
  // replica at most (each limits on its own), not one per denial.
  await new Promise((r) => setTimeout(r, 30_000));
  const denied = (await events('InjectionDenied')).filter((x) => x.involvedObject.name === rs);
  const failedCreates = await sb().kubectl(
    'get',
    'events',
    '-n',
    NS,
    '--field-selector',
    `reason=FailedCreate,involvedObject.name=${rs}`,
    '-o',
    'json',
  );
  t.diagnostic(
    `InjectionDenied Events: ${denied.length}; the ReplicaSet controller's own FailedCreate Events: ${(JSON.parse(failedCreates) as { items: unknown[] }).items.length}`,
  );
  assert.ok(denied.length <= 2, `${denied.length} InjectionDenied Events`);
  await sb().kubectl('delete', 'deployment', '-n', NS, 'denied', '--wait=false');
});

test('a reload HAProxy rejects: a Warning ReloadFailed on each replica that tried, in kubectl describe pod', async (t) => {
  const replicas = await sb().replicas();
  assert.equal(replicas.length, 3);
  // The user's configuration, edited into one HAProxy refuses (an unknown keyword); the running workers
  // keep serving, but the next reload (a change of peers) fails.
  const cm = JSON.parse(await sb().kubectl('get', 'configmap', '-n', NS, 'haproxy-config', '-o', 'json')) as {
    data: Record<string, string>;
  };
  const broken = (cm.data['haproxy.cfg'] ?? '').replace(/^defaults$/m, 'defaults\n    no-such-keyword on');
  assert.notEqual(broken, cm.data['haproxy.cfg']);
  await sb().kubectl(
    'patch',
    'configmap',
    '-n',
    NS,
    'haproxy-config',
    '--type=merge',
    '-p',
    JSON.stringify({ data: { 'haproxy.cfg': broken } }),
  );
  // Wait until the kubelet has projected it into every HAProxy container (read through /proc/<pid>/root).
  await waitFor(
    async () => {
      for (const r of replicas) {
        const pid = await sb().containerPid(NS, r.pod, 'haproxy');
        if (
          pid === undefined ||
          !(await readFile(`/proc/${pid}/root/usr/local/etc/haproxy/haproxy.cfg`, 'utf8')).includes('no-such-keyword')
        )
          return false;
      }
      return true;
    },
    { what: 'the broken configuration in every HAProxy container', timeoutMs: 180_000, intervalMs: 1000 },
  );

  await sb().kubectl('scale', 'deployment/haproxy', '--replicas=2');
  const remaining = await waitFor(
    async () => {
      const r = (await sb().replicas()).filter((x) => !x.terminating);
      return r.length === 2 ? r : false;
    },
    { what: '2 replicas left', timeoutMs: 120_000, intervalMs: 500 },
  );
  const failed = await waitFor(
    async () => {
      const e = (await events('ReloadFailed')).filter((x) => remaining.some((r) => r.pod === x.involvedObject.name));
      return new Set(e.map((x) => x.involvedObject.name)).size === remaining.length ? e : false;
    },
    { what: 'a ReloadFailed Event on both remaining replicas', timeoutMs: 120_000, intervalMs: 1000 },
  );
  for (const e of failed) {
    t.diagnostic(`${e.involvedObject.name}: ${e.type} ${e.reason}: ${e.message ?? ''}`);
    assert.equal(e.type, 'Warning');
    assert.equal(e.involvedObject.kind, 'Pod');
    assert.match(
      e.message ?? '',
      new RegExp(`^${ERRORS.HPS_RELOAD_FAILED.code}: HAProxy \\S+ rejected the configuration`),
    );
  }
  // kubectl describe selects Events by the pod's uid: the syncer found it in its own EndpointSlice entry.
  for (const r of remaining) {
    const describe = await sb().kubectl('describe', 'pod', '-n', NS, r.pod);
    assert.match(describe, /Warning\s+ReloadFailed\s/, `${r.pod}:\n${describe}`);
  }
  // `haproxy-peer-sync status` shows the same: the failed reload, its error, and exit 1 (HAProxy still
  // declares the replica that left).
  const st = await promisify(execFile)(
    process.execPath,
    [new URL('../bin/haproxy-peer-sync.ts', import.meta.url).pathname, 'status', '-n', NS, 'deployment/haproxy'],
    { env: { ...process.env, KUBECONFIG: sb().controlPlane.kubeconfigPath } },
  ).then(
    () => ({ code: 0, stdout: '' }),
    (e: { code: number; stdout: string }) => e,
  );
  t.diagnostic(st.stdout);
  assert.equal(st.code, 1);
  for (const r of remaining)
    assert.match(
      st.stdout,
      new RegExp(`^${r.pod} .* ago, failed {2,}${ERRORS.HPS_RELOAD_FAILED.code} \\d+s ago: HAProxy`, 'm'),
      st.stdout,
    );
  // The syncer retries with backoff for as long as the configuration is broken: one Event per pod still.
  await new Promise((res) => setTimeout(res, 20_000));
  const counted = (await events('ReloadFailed')).filter((x) => remaining.some((r) => r.pod === x.involvedObject.name));
  assert.equal(counted.length, remaining.length, counted.map((e) => e.involvedObject.name).join(', '));

  // Mended, the next pass reloads and the replicas converge again.
  await sb().kubectl(
    'patch',
    'configmap',
    '-n',
    NS,
    'haproxy-config',
    '--type=merge',
    '-p',
    JSON.stringify({ data: { 'haproxy.cfg': cm.data['haproxy.cfg'] } }),
  );
  await waitConverged(sb(), 2, 'after mending the configuration');
});
