/**
 * End to end, the way a user meets the product: apply deploy/ and examples/ to a real apiserver, see the
 * example's pods injected and running, Ready only once their syncer is, meshed, and sticky sessions
 * holding through the front load balancer across every HAProxy replica.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { waitFor } from './harness/processes.ts';
import { startSandbox, type Sandbox } from './harness/sandbox.ts';
import {
  restartedContainers,
  NS,
  STEP_TIMEOUT_MS,
  SYNCER,
  SYNCER_INIT,
  haproxyPods,
  kubectlWithStderr,
  waitEntriesEverywhere,
  podReady,
  setEntries,
  tableKeys,
  waitConverged,
} from './harness/e2e-example.ts';
import { frontendRequests, lbAddress, lbGet } from './harness/e2e-lb.ts';

let sandbox: Sandbox | undefined;
const sb = (): Sandbox => {
  if (sandbox === undefined) throw new Error('no sandbox');
  return sandbox;
};

before(async () => {
  sandbox = await startSandbox();
});
after(async () => {
  await sandbox?.stop();
});

const EXAMPLES = ['-f', 'examples/sticky-backend.yaml', '-f', 'examples/haproxy.yaml', '-f', 'examples/lb.yaml'];

/** How many objects a set of manifests holds, as kubectl itself renders them (kustomize or files). */
async function objectCount(...source: string[]): Promise<number> {
  return (await sb().kubectl('create', '--dry-run=client', '-o', 'name', ...source)).trim().split('\n').length;
}

/** Server-side dry run (strict field validation), then the real apply; both without a single warning. */
async function applyChecked(...source: string[]): Promise<void> {
  const expected = await objectCount(...source);
  const dry = await kubectlWithStderr(sb(), 'apply', '--dry-run=server', '--validate=strict', ...source);
  assert.equal(dry.stderr, '', `dry run of ${source.join(' ')} warned`);
  const dryLines = dry.stdout.trim().split('\n');
  assert.equal(dryLines.length, expected, dry.stdout);
  for (const line of dryLines) assert.match(line, /\(server dry run\)$/);
  const real = await kubectlWithStderr(sb(), 'apply', '--validate=strict', ...source);
  assert.equal(real.stderr, '', `apply of ${source.join(' ')} warned`);
  assert.equal(real.stdout.trim().split('\n').length, expected, real.stdout);
  for (const line of real.stdout.trim().split('\n')) assert.match(line, / (created|configured|unchanged)$/);
}

test('deploy/ and examples/ pass a server-side dry run, then apply cleanly', async () => {
  // A server-side dry run creates nothing, so the objects in deploy/'s own namespace would be refused
  // with "namespace not found": the namespace goes first (what `kubectl create ns` would do), then the
  // whole of deploy/ is validated by the apiserver and applied.
  await applyChecked('-f', 'deploy/namespace.yaml');
  await applyChecked('-k', 'deploy/');
  // installWebhook re-applies deploy/ (unchanged) and waits for both webhook replicas and the caBundle:
  // the example's pods are only injected once the webhook serves.
  await sb().installWebhook();
  await applyChecked(...EXAMPLES);
  await waitConverged(sb(), 3, 'the example after apply');
});

function assertInjected(pod: V1Pod): void {
  const name = pod.metadata?.name;
  assert.match(
    pod.metadata?.annotations?.['haproxy-peer-sync.io/status'] ?? '',
    /^injected/,
    `${name}: status annotation`,
  );
  const inits = pod.spec?.initContainers ?? [];
  assert.deepEqual(
    inits.map((c) => c.name),
    [SYNCER_INIT, SYNCER],
    `${name}: init containers`,
  );
  const syncer = inits[1];
  // A native sidecar: an init container that keeps running, so HAProxy starts after it.
  assert.equal(syncer?.restartPolicy, 'Always', `${name}: syncer is a native sidecar`);
  assert.equal(syncer?.readinessProbe?.httpGet?.path, '/readyz', `${name}: syncer readiness probe`);
  const volume = pod.spec?.volumes?.find((v) => v.name === 'haproxy-peer-sync');
  assert.ok(volume?.emptyDir, `${name}: shared emptyDir volume`);
  const haproxy = pod.spec?.containers.find((c) => c.name === 'haproxy');
  const argv = [...(haproxy?.command ?? []), ...(haproxy?.args ?? [])].join(' ');
  assert.match(argv, /-S \/var\/run\/haproxy-peer-sync\/master\.sock/, `${name}: HAProxy master socket`);
  assert.match(argv, /-f \/var\/run\/haproxy-peer-sync\/peers\.cfg/, `${name}: HAProxy loads the peers file`);
  assert.ok(
    haproxy?.volumeMounts?.some((m) => m.name === 'haproxy-peer-sync' && m.mountPath === '/var/run/haproxy-peer-sync'),
    `${name}: HAProxy mounts the volume`,
  );
}

test("the example's pods are injected (as admitted) and run; the other example pods are not", async () => {
  const pods = await haproxyPods(sb());
  assert.equal(pods.length, 3);
  for (const pod of pods) {
    assertInjected(pod);
    const name = pod.metadata?.name ?? '';
    assert.equal(pod.status?.phase, 'Running', name);
    const init = pod.status?.initContainerStatuses?.find((c) => c.name === SYNCER_INIT);
    assert.equal(init?.state?.terminated?.exitCode, 0, `${name}: init container ran and succeeded`);
    // The processes really run, with the admitted spec: HAProxy and the syncer each have a live pid.
    for (const container of ['haproxy', SYNCER]) {
      const pid = await sb().containerPid(NS, name, container);
      assert.ok(pid !== undefined, `${name}/${container} runs`);
      process.kill(pid, 0);
    }
  }
  // What a user sees: kubectl counts the native sidecar as a running container of the pod.
  const table = await sb().kubectl('get', 'pods', '-l', 'app.kubernetes.io/name=haproxy', '--no-headers');
  const rows = table.trim().split('\n');
  assert.equal(rows.length, 3, table);
  for (const row of rows) assert.match(row, /^haproxy-\S+\s+2\/2\s+Running\s/, `kubectl get pods: ${row}`);
  const core = sb().controlPlane.kubeConfig.makeApiClient(k8s.CoreV1Api);
  for (const selector of ['app.kubernetes.io/name=lb', 'app.kubernetes.io/name=sticky-backend']) {
    const others = (await core.listNamespacedPod({ namespace: NS, labelSelector: selector })).items;
    assert.ok(others.length > 0, selector);
    for (const p of others) assert.equal(p.spec?.initContainers?.length ?? 0, 0, `${p.metadata?.name} is not injected`);
  }
});

/** Time of the syncer's first "tables taught: ready" log line (it latches: /readyz answers 200 from then on). */
async function taughtAt(pod: string): Promise<number> {
  const log = await sb().kubectl('logs', '-n', NS, pod, '-c', SYNCER);
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; time?: number };
    if (entry.msg === 'tables taught: ready' && entry.time !== undefined) return entry.time;
  }
  throw new Error(`${pod}: the syncer never logged "tables taught: ready"`);
}

test('the first replicas became Ready no earlier than their syncer reported ready', async () => {
  for (const pod of await haproxyPods(sb())) {
    const name = pod.metadata?.name ?? '';
    const readySince = pod.status?.conditions?.find(
      (c) => c.type === 'Ready' && c.status === 'True',
    )?.lastTransitionTime;
    assert.ok(readySince !== undefined, `${name} is Ready`);
    // The apiserver keeps whole seconds: compare in seconds, which still fails a Ready set a second early.
    const readySecond = Math.floor(new Date(readySince).getTime() / 1000);
    assert.ok(
      readySecond >= Math.floor((await taughtAt(name)) / 1000),
      `${name}: Ready at ${new Date(readySince).toISOString()}, syncer ready at ${new Date(await taughtAt(name)).toISOString()}`,
    );
  }
});

interface Sample {
  readonly ready: boolean;
  readonly readyz: number;
  readonly haproxyReady: boolean;
}

async function readyzOf(pod: V1Pod): Promise<number> {
  const port = pod.spec?.initContainers
    ?.find((c) => c.name === SYNCER)
    ?.ports?.find((p) => p.name === 'hps-health')?.containerPort;
  // 0: nothing answers yet (the syncer has not started its health server).
  return fetch(`http://${pod.status?.podIP}:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.status,
    () => 0,
  );
}

test("a fresh replica stays un-Ready while its syncer's /readyz is 503, and holds the table once Ready", async (t) => {
  const [first] = await haproxyPods(sb());
  const keys = Array.from({ length: 100 }, (_, i) => `ready-${String(i).padStart(3, '0')}`);
  await setEntries(sb(), first?.metadata?.name ?? '', keys);
  const old = new Set((await haproxyPods(sb())).map((p) => p.metadata?.name));
  await waitEntriesEverywhere(sb(), [...old].map(String), keys, 'the 100 entries on the 3 replicas');

  await sb().kubectl('scale', 'deployment/haproxy', '--replicas=4');
  // Sample the new pod as a user would (pod status first, then its syncer's /readyz): the syncer latches
  // ready, so a Ready pod followed by a non-200 /readyz means the pod was Ready before its syncer.
  const samples: Sample[] = [];
  const fresh = await waitFor(
    async () => {
      const pod = (await haproxyPods(sb())).find(
        (p) => !old.has(p.metadata?.name) && p.metadata?.deletionTimestamp === undefined,
      );
      if (pod?.status?.podIP === undefined) return false;
      const ready = podReady(pod);
      const haproxyReady = pod.status.containerStatuses?.find((c) => c.name === 'haproxy')?.ready ?? false;
      samples.push({ ready, readyz: await readyzOf(pod), haproxyReady });
      // Read at once when first seen Ready: what a client sent there right now would find.
      return ready ? { name: pod.metadata?.name ?? '', held: await tableKeys(sb(), pod.metadata?.name ?? '') } : false;
    },
    { what: 'the fourth replica to become Ready', timeoutMs: STEP_TIMEOUT_MS, intervalMs: 100 },
  );

  const count = (f: (s: Sample) => boolean): number => samples.filter(f).length;
  t.diagnostic(
    `${fresh.name}: ${samples.length} samples; /readyz 0 (not listening): ${count((s) => s.readyz === 0)}, ` +
      `503 while un-Ready: ${count((s) => !s.ready && s.readyz === 503)} (HAProxy container already ready in ${count((s) => !s.ready && s.readyz === 503 && s.haproxyReady)}), ` +
      `200 while un-Ready: ${count((s) => !s.ready && s.readyz === 200)}`,
  );
  assert.deepEqual(
    samples.filter((s) => s.ready && s.readyz !== 200),
    [],
    'Ready while the syncer was not',
  );
  assert.ok(
    samples.some((s) => !s.ready && s.readyz === 503),
    "the syncer's /readyz was seen answering 503 while the pod was un-Ready",
  );
  assert.deepEqual(
    keys.filter((k) => !fresh.held.has(k)),
    [],
    `${fresh.name} was Ready before holding the table`,
  );
  await waitConverged(sb(), 4, 'after scaling to 4');
});

test("every replica's show peers lists every other replica as ESTA", async () => {
  const replicas = await sb().replicas();
  assert.equal(replicas.length, 4);
  for (const r of replicas) {
    const remotes = (r.peers ?? []).filter((p) => !p.local);
    assert.deepEqual(
      remotes.map((p) => p.name).sort(),
      replicas
        .map((o) => o.pod)
        .filter((n) => n !== r.pod)
        .sort(),
      `${r.pod}: peers`,
    );
    assert.deepEqual(
      remotes.filter((p) => p.status !== 'ESTA'),
      [],
      `${r.pod}: every link ESTA`,
    );
  }
});

test('requests with a sticky key stay on one backend across every HAProxy replica behind the front LB', async (t) => {
  const replicas = await sb().replicas();
  const ipToPod = new Map(replicas.map((r) => [r.ip, r.pod]));
  const lb = await lbAddress(sb());
  // The LB finds the replicas through DNS and health checks: wait until it spreads over all of them.
  const seen = new Set<string>();
  await waitFor(
    async () => {
      seen.add((await lbGet(lb)).via);
      return [...ipToPod.keys()].every((ip) => seen.has(ip));
    },
    { what: 'the front LB to send requests to every HAProxy replica', timeoutMs: 120_000, intervalMs: 50 },
  );

  const keys = Array.from({ length: 6 }, (_, i) => `sticky-${i}`);
  const served = new Map<string, { backends: Set<string>; via: Set<string> }>(
    keys.map((k) => [k, { backends: new Set(), via: new Set() }]),
  );
  const record = async (key: string): Promise<void> => {
    const r = await lbGet(lb, key);
    served.get(key)?.backends.add(r.backend);
    served.get(key)?.via.add(ipToPod.get(r.via) ?? r.via);
  };
  for (const key of keys) await record(key);
  // A session's first request creates its entry on one replica; peers push it to the others in the
  // background. Like a browser's next click, the following requests come once that happened.
  await waitEntriesEverywhere(
    sb(),
    replicas.map((r) => r.pod),
    keys,
    "the sessions' entries on every replica",
    100,
  );
  // One key at a time: consecutive requests round-robin over the replicas, so every key meets every one.
  const counted = async (): Promise<number[]> => Promise.all(replicas.map((r) => frontendRequests(sb(), r.pod)));
  const before = await counted();
  for (const key of keys) for (let i = 0; i < 40; i++) await record(key);
  // The replicas' own counters agree: each took a share, and together at least the requests sent (not
  // exactly: one run counted 241 for 240 sent, likely a connection of the LB's health checks).
  const share = (await counted()).map((n, i) => n - (before[i] ?? 0));
  t.diagnostic(`requests per HAProxy replica (show stat req_tot): ${share.join(', ')}`);
  for (const [i, n] of share.entries()) assert.ok(n > 0, `${replicas[i]?.pod} received none of the requests`);
  assert.ok(share.reduce((a, b) => a + b, 0) >= keys.length * 40, `${share.join('+')} < ${keys.length * 40}`);

  for (const [key, s] of served) {
    t.diagnostic(`${key}: backend ${[...s.backends].join(',')} via ${[...s.via].sort().join(',')}`);
    assert.equal(s.backends.size, 1, `${key} was served by ${[...s.backends].join(', ')}`);
    assert.deepEqual([...s.via].sort(), replicas.map((r) => r.pod).sort(), `${key} went through every HAProxy replica`);
  }
  // Stickiness is only shown if the sessions did not all land on one backend by chance.
  const backends = new Set([...served.values()].flatMap((s) => [...s.backends]));
  assert.ok(backends.size >= 2, `every session on ${[...backends].join(',')}`);
});

test('every container runs as its securityContext says (read from the kernel), and none restarted or was OOM-killed', async () => {
  for (const pod of await haproxyPods(sb())) {
    const name = pod.metadata?.name ?? '';
    for (const container of [SYNCER, 'haproxy']) {
      const pid = await sb().containerPid(NS, name, container);
      assert.ok(pid !== undefined, `${name}/${container} runs`);
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      // What the admitted spec says (the syncer reuses HAProxy's uid, 99 in the example).
      const spec = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
        (c) => c.name === container,
      );
      const uid = String(spec?.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser);
      assert.match(
        status,
        new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'),
        `${name}/${container}: uid ${uid}`,
      );
      assert.match(status, /^CapEff:\s+0+$/m, `${name}/${container}: no capabilities`);
      assert.match(status, /^NoNewPrivs:\s+1$/m, `${name}/${container}: no privilege escalation`);
      if (spec?.securityContext?.seccompProfile?.type === 'RuntimeDefault')
        assert.match(status, /^Seccomp:\s+2$/m, `${name}/${container}: seccomp RuntimeDefault`);
      assert.equal(
        spec?.securityContext?.readOnlyRootFilesystem,
        true,
        `${name}/${container}: spec asks for a read-only root`,
      );
      const root =
        (await readFile(`/proc/${pid}/mountinfo`, 'utf8')).split('\n').find((l) => l.split(' ')[4] === '/') ?? '';
      assert.match(root, / ro[, ]/, `${name}/${container}: read-only root`);
    }
  }
  assert.deepEqual(await restartedContainers(sb()), [], 'containers restarted or OOM-killed');
});

test("troubleshooting as the README says: kubectl exec into the syncer container reaches HAProxy's master CLI", async () => {
  const [pod] = await haproxyPods(sb());
  const name = pod?.metadata?.name ?? '';
  const peers = await sb().kubectl(
    'exec',
    '-n',
    NS,
    name,
    '-c',
    SYNCER,
    '--',
    'haproxy-peer-sync',
    'cli',
    '@1 show peers',
  );
  assert.match(peers, new RegExp(`^\\s*0x[0-9a-f]+: id=${name}\\(local`, 'm'), peers);
  const proc = await sb().kubectl('exec', '-n', NS, name, '-c', SYNCER, '--', 'haproxy-peer-sync', 'cli', 'show proc');
  assert.match(proc, /^\d+\s+master\s/m, proc);
});
