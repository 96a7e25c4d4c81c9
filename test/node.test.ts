/**
 * The lab's real node against the real control plane: what a cluster admin would check after joining a
 * node — it is Ready with containerd, pods run as their securityContext says (uid, read-only root, no
 * capabilities, memory limit), the real controllers publish EndpointSlices of real pods, Services work
 * through kube-proxy and CoreDNS, and stop() leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, type V1Pod } from '@kubernetes/client-node';
import { defaultBinDir } from './harness/control-plane.ts';
import { hostNetnsPath, startHostRelay } from './harness/host-relay.ts';
import { pidAlive, waitFor } from './harness/processes.ts';
import { startSandbox, type Sandbox } from './harness/sandbox.ts';

const TIMEOUT = 120_000;
const run = promisify(execFile);
let sandbox: Sandbox | undefined;
const sb = (): Sandbox => {
  if (sandbox === undefined) throw new Error('no sandbox');
  return sandbox;
};

before(async () => {
  const began = Date.now();
  sandbox = await startSandbox();
  console.error(`control plane + node + CoreDNS ready in ${Date.now() - began} ms`);
});
after(async () => {
  await sandbox?.stop();
});

const core = (): CoreV1Api => sb().controlPlane.kubeConfig.makeApiClient(CoreV1Api);
const ready = (p: V1Pod): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function runningPods(namespace: string, selector: string, n: number): Promise<V1Pod[]> {
  return waitFor(
    async () => {
      const pods = (await core().listNamespacedPod({ namespace, labelSelector: selector })).items.filter(
        (p) => p.metadata?.deletionTimestamp === undefined,
      );
      return pods.length === n && pods.every(ready) ? pods : undefined;
    },
    { what: `${n} ready pods ${selector} in ${namespace}`, timeoutMs: TIMEOUT, intervalMs: 250 },
  );
}

test('kubectl get nodes -o wide: one Ready node running containerd, at the lab node address', async () => {
  const rows = (await sb().kubectl('get', 'nodes', '-o', 'wide', '--no-headers')).trim().split('\n');
  assert.equal(rows.length, 1, rows.join('\n'));
  const f = rows[0]?.split(/\s+/) ?? [];
  assert.equal(f[0], sb().node.name);
  assert.equal(f[1], 'Ready');
  assert.equal(f[5], sb().node.ip, 'INTERNAL-IP');
  assert.match(rows[0] ?? '', /containerd:\/\/1\.\d+\.\d+/, 'CONTAINER-RUNTIME');
});

test('a Deployment of whoami runs as its securityContext says: uid, read-only root, no capabilities', async () => {
  await sb().controlPlane.createNamespace('sec');
  const apps = sb().controlPlane.kubeConfig.makeApiClient(AppsV1Api);
  await apps.createNamespacedDeployment({
    namespace: 'sec',
    body: {
      metadata: { name: 'whoami' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'whoami' } },
        template: {
          metadata: { labels: { app: 'whoami' } },
          spec: {
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 65532,
              runAsGroup: 65532,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'whoami',
                image: 'traefik/whoami:v1.10.3',
                args: ['--port=8080'],
                ports: [{ containerPort: 8080, name: 'http' }],
                readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 1 },
                resources: { limits: { memory: '32Mi', cpu: '100m' } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
          },
        },
      },
    },
  });
  const pods = await runningPods('sec', 'app=whoami', 3);
  assert.equal(new Set(pods.map((p) => p.status?.podIP)).size, 3, 'three distinct pod IPs');
  for (const p of pods) {
    const name = p.metadata?.name ?? '';
    const pid = await sb().containerPid('sec', name, 'whoami');
    assert.ok(pid !== undefined, `${name}: whoami runs`);
    // What the kernel says about the container's process, read from the host like `ps` would.
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m, `${name}: uid`);
    assert.match(status, /^CapEff:\s+0+$/m, `${name}: no effective capabilities`);
    assert.match(status, /^NoNewPrivs:\s+1$/m, `${name}: no privilege escalation`);
    assert.match(status, /^Seccomp:\s+2$/m, `${name}: seccomp filter (RuntimeDefault)`);
    const mounts = await readFile(`/proc/${pid}/mountinfo`, 'utf8');
    assert.match(mounts.split('\n').find((l) => l.split(' ')[4] === '/') ?? '', / ro[, ]/, `${name}: read-only root`);
    const res = await fetch(`http://${p.status?.podIP}:8080/`, { signal: AbortSignal.timeout(5000) });
    assert.match(await res.text(), new RegExp(`^Hostname: ${name}$`, 'm'), `${name}: whoami answers from the pod`);
  }
});

test('a container over its memory limit is OOMKilled and restarted by the kubelet', async () => {
  await core().createNamespacedPod({
    namespace: 'sec',
    body: {
      metadata: { name: 'hog' },
      spec: {
        containers: [
          {
            name: 'hog',
            image: 'ghcr.io/haproxy-peer-sync/haproxy-peer-sync:0.1.0',
            command: ['node', '-e', 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));'],
            resources: { limits: { memory: '64Mi' } },
          },
        ],
      },
    },
  });
  const status = await waitFor(
    async () => {
      const s = await sb().containerStatus('sec', 'hog', 'hog');
      return (s?.lastState?.terminated ?? s?.state?.terminated)?.reason === 'OOMKilled' ? s : undefined;
    },
    { what: 'the hog to be OOMKilled', timeoutMs: TIMEOUT, intervalMs: 250 },
  );
  assert.equal((status.lastState?.terminated ?? status.state?.terminated)?.exitCode, 137);
  await core().deleteNamespacedPod({ namespace: 'sec', name: 'hog', gracePeriodSeconds: 0 });
});

test('a Service gets EndpointSlices of the real pods, and answers on its ClusterIP and DNS name from a pod', async () => {
  await core().createNamespacedService({
    namespace: 'sec',
    body: {
      metadata: { name: 'whoami' },
      spec: { selector: { app: 'whoami' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    },
  });
  const pods = await runningPods('sec', 'app=whoami', 3);
  const discovery = sb().controlPlane.kubeConfig.makeApiClient(DiscoveryV1Api);
  await waitFor(
    async () => {
      const slices = await discovery.listNamespacedEndpointSlice({
        namespace: 'sec',
        labelSelector: 'kubernetes.io/service-name=whoami',
      });
      const ready = slices.items
        .flatMap((s) => s.endpoints ?? [])
        .filter((e) => e.conditions?.ready === true)
        .flatMap((e) => e.addresses);
      return (
        ready.sort().join(',') ===
        pods
          .map((p) => p.status?.podIP ?? '')
          .sort()
          .join(',')
      );
    },
    { what: 'EndpointSlices listing the 3 ready pods', timeoutMs: TIMEOUT },
  );

  // From a pod, as a client in the cluster: the Service's DNS name (CoreDNS) and ClusterIP (kube-proxy).
  await core().createNamespacedPod({
    namespace: 'sec',
    body: {
      metadata: { name: 'client' },
      spec: {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'client',
            image: 'ghcr.io/haproxy-peer-sync/haproxy-peer-sync:0.1.0',
            // kube-proxy programs a new Service's endpoints within its sync period: retry for a while, as clients do.
            command: [
              'node',
              '-e',
              `(async () => { for (let i = 0; ; i++) { try { const t = await (await fetch('http://whoami.sec.svc.cluster.local/')).text();
        console.log(t.split('\\n')[0]); return; } catch (e) { if (i === 50) throw e; await new Promise((r) => setTimeout(r, 200)); } } })()`,
            ],
          },
        ],
      },
    },
  });
  const done = await waitFor(
    async () => {
      const s = await sb().containerStatus('sec', 'client', 'client');
      return s?.state?.terminated;
    },
    { what: 'the client pod to finish', timeoutMs: TIMEOUT, intervalMs: 250 },
  );
  const log = await sb().kubectl('logs', '-n', 'sec', 'client');
  assert.equal(done.exitCode, 0, log);
  assert.match(log, /^Hostname: whoami-/m, 'a whoami pod answered through the Service');
});

test("kubectl from the host's network namespace (the relay): get nodes, logs, exec and port-forward work", async () => {
  const relay = await startHostRelay(sb().controlPlane, sb().dir);
  const kubectl = join(defaultBinDir(), 'kubectl');
  // As a person in another terminal: the host's network namespace, plain kubectl, the printed kubeconfig.
  const onHost = (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
    run('nsenter', [`--net=${hostNetnsPath()}`, ...args], { timeout: 30_000 });
  const host = (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
    onHost(kubectl, '--kubeconfig', relay.kubeconfigPath, ...args);
  assert.match((await host('get', 'nodes', '--no-headers')).stdout, new RegExp(`^${sb().node.name}\\s+Ready\\s`));
  const [pod] = await runningPods('sec', 'app=whoami', 3);
  const name = pod?.metadata?.name ?? '';
  assert.match((await host('-n', 'sec', 'logs', name)).stdout, /Starting up on port 8080/);
  const exec = await host('-n', 'sec', 'exec', name, '--', '/whoami', '-h');
  assert.match(exec.stdout + exec.stderr, /port to listen on/);
  const forward = spawn('nsenter', [
    `--net=${hostNetnsPath()}`,
    kubectl,
    '--kubeconfig',
    relay.kubeconfigPath,
    '-n',
    'sec',
    'port-forward',
    `pod/${name}`,
    '18093:8080',
  ]);
  try {
    const answer = await waitFor(
      async () =>
        (
          await onHost(
            process.execPath,
            '-e',
            "fetch('http://127.0.0.1:18093/').then(async (r) => console.log(await r.text()))",
          )
        ).stdout,
      { what: 'an answer through kubectl port-forward on the host', timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.match(answer, new RegExp(`^Hostname: ${name}$`, 'm'));
  } finally {
    forward.kill();
    await relay.process.stop();
  }
});

test('after an apiserver restart the node still runs new pods', async () => {
  await sb().controlPlane.restartApiserver();
  const apps = sb().controlPlane.kubeConfig.makeApiClient(AppsV1Api);
  await apps.patchNamespacedDeploymentScale({
    namespace: 'sec',
    name: 'whoami',
    body: [{ op: 'replace', path: '/spec/replicas', value: 4 }],
  });
  await runningPods('sec', 'app=whoami', 4);
});

test('stop() leaves no daemon, container process, cgroup or node directory behind', async () => {
  const s = sb();
  const pods = await runningPods('sec', 'app=whoami', 4);
  const containerPids = (
    await Promise.all(pods.map((p) => s.containerPid('sec', p.metadata?.name ?? '', 'whoami')))
  ).filter((p): p is number => p !== undefined);
  const daemons = [...s.node.pids(), ...s.controlPlane.pids()];
  assert.equal(containerPids.length, 4);
  await s.stop();
  await s.stop(); // idempotent
  sandbox = undefined;
  assert.deepEqual([...daemons, ...containerPids].filter(pidAlive), [], 'processes alive after stop()');
  const cgroups = readdirSync('/sys/fs/cgroup')
    .map((h) => `/sys/fs/cgroup/${h}${s.node.cgroupRoot}`)
    .filter(existsSync);
  assert.deepEqual(cgroups, [], 'cgroups left');
  assert.equal(existsSync(s.node.dirs.root), false, 'node directory removed');
});
