/**
 * `npm run bench:floor`: how fast the real node itself brings up a pod of an injected replica's shape,
 * with none of our code in it — the floor under `npm run bench`'s `new_replica_ready_ms_p50`.
 *
 * The pod has the same containers in the same order, with the same probes: an init container that exits
 * at once (`true` in the HAProxy image, where ours writes the first peers file), a native sidecar whose
 * startupProbe and readinessProbe (period 1 s) answer at once (traefik/whoami, where ours is the syncer
 * and its start-up gate), then HAProxy with a config of one frontend. No webhook, no peers. On the
 * sandbox (real control plane, one real node) it scales 3 → 4 → 3, 3 → 10 → 3 and 3 → 20 → 3, `--runs`
 * times, and times each new pod from first seen by a pod watch to scheduled, IP, init container done,
 * sidecar started (the kubelet's own flag: its startupProbe passed), main container running and Ready.
 * Prints the breakdown, then one JSON line: each figure the median over the runs, with `_min`/`_max`.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSandbox } from '../test/harness/sandbox.ts';
import { HAPROXY_IMAGES } from '../test/harness/workload.ts';
import { kubeconfigAccess } from '../syncer/kube-client.ts';
import { flagsOrExit, reRunInsideLab, RUNS_FLAG } from './entry.ts';
import { observePods, type PodMoments, type PodObserver } from './pod-observer.ts';
import { acrossRuns, newReplicaStageMs, percentile, renderNewReplicaTable, type Stages } from './stats.ts';

const FLAGS = {
  runs: RUNS_FLAG,
  'without-init': {
    kind: 'boolean',
    description: 'leave the init container out: what one more container in the chain costs on the node',
  },
} as const;
const { runs, 'without-init': withoutInit } = flagsOrExit(FLAGS, 'bench:floor');
reRunInsideLab();

const NAME = 'floor';
const CONTAINERS = { init: 'first', sidecar: 'sidecar', main: 'haproxy' } as const;
const STAGES: Stages<PodMoments> = [
  ['scheduled', 'scheduled'],
  ['ip', 'ip'],
  ['initDone', 'init_done'],
  ['sidecarStarted', 'sidecar_started'],
  ['mainRunning', 'main_running'],
  ['ready', 'ready'],
];

/** The pod of an injected replica, every container doing nothing of ours (see the header). */
function manifests(namespace: string): string {
  const hardened = `
          securityContext:
            runAsNonRoot: true
            runAsUser: 99
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: [ALL] }
            seccompProfile: { type: RuntimeDefault }
          resources: { requests: { cpu: 10m, memory: 32Mi }, limits: { memory: 128Mi } }`;
  const probe = (period: number): string => `{ httpGet: { path: /, port: 8585 }, periodSeconds: ${period} }`;
  const init = withoutInit
    ? ''
    : `
        - name: ${CONTAINERS.init}
          image: ${HAPROXY_IMAGES['2.6']}
          command: ["true"]${hardened}`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${namespace} }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: ${NAME}-config, namespace: ${namespace} }
data:
  haproxy.cfg: |
    defaults
      mode http
      timeout client 5s
      timeout server 5s
      timeout connect 1s
    frontend fe
      bind :8080
      http-request return status 200
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${NAME}, namespace: ${namespace} }
spec:
  replicas: 3
  selector: { matchLabels: { app: ${NAME} } }
  template:
    metadata: { labels: { app: ${NAME} } }
    spec:
      terminationGracePeriodSeconds: 10
      initContainers:${init}
        - name: ${CONTAINERS.sidecar}
          image: traefik/whoami:v1.10.3
          args: ["--port", "8585"]
          restartPolicy: Always
          startupProbe: ${probe(1)}
          readinessProbe: ${probe(1)}${hardened}
      containers:
        - name: ${CONTAINERS.main}
          image: ${HAPROXY_IMAGES['2.6']}
          volumeMounts: [{ name: config, mountPath: /usr/local/etc/haproxy, readOnly: true }]${hardened}
      volumes:
        - name: config
          configMap: { name: ${NAME}-config }
`;
}

const live = (pods: PodObserver): string[] =>
  pods
    .pods()
    .filter((p) => p.metadata?.deletionTimestamp == null)
    .map((p) => p.metadata?.name ?? '');

/** Scales to `target` and returns the moments of the pods it added, once every one is Ready (or all gone). */
async function scenario(
  scale: (replicas: number) => Promise<unknown>,
  pods: PodObserver,
  target: number,
): Promise<PodMoments[]> {
  const before = new Set(live(pods));
  const began = Date.now();
  await scale(target);
  for (;;) {
    if (Date.now() - began > 300_000) throw new Error(`scale to ${target}: not done within 300 s`);
    const all = pods.pods().map((p) => p.metadata?.name ?? '');
    const added = live(pods).filter((n) => !before.has(n));
    // A scale-in is done when the leaving pods are gone, so the next scenario starts from rest.
    const done =
      all.length === target && added.every((n) => pods.moments(n)?.ready !== undefined) && live(pods).length === target;
    if (done) return added.map((n) => pods.moments(n)).filter((m): m is PodMoments => m !== undefined);
    await sleep(50);
  }
}

const sandbox = await startSandbox();
const namespace = `${NAME}-${Math.random().toString(36).slice(2, 7)}`;
const file = join(sandbox.dir, `${namespace}.yaml`);
const results: { lone: PodMoments[]; bursts: PodMoments[] }[] = [];
try {
  await writeFile(file, manifests(namespace));
  await sandbox.kubectl('apply', '-f', file);
  const access = await kubeconfigAccess(sandbox.controlPlane.kubeconfigPath);
  const pods = observePods(access, namespace, `app=${NAME}`, CONTAINERS);
  const scale = (replicas: number): Promise<string> =>
    sandbox.kubectl('-n', namespace, 'scale', `deployment/${NAME}`, `--replicas=${replicas}`);
  await pods.listed;
  try {
    // The first replicas, then the runs from rest.
    await scenario(scale, pods, 3);
    for (let run = 1; run <= runs; run++) {
      const these = { lone: [] as PodMoments[], bursts: [] as PodMoments[] };
      for (const [label, target, kind] of [
        ['lone 3→4', 4, 'lone'],
        ['lone 4→3', 3, undefined],
        ['scale 3→10', 10, 'bursts'],
        ['scale 10→3', 3, undefined],
        ['burst 3→20', 20, 'bursts'],
        ['back 20→3', 3, undefined],
      ] as const) {
        process.stderr.write(`bench:floor: run ${run}/${runs}: ${label}…\n`);
        const added = await scenario(scale, pods, target);
        if (kind !== undefined) these[kind].push(...added);
        await sleep(2000);
      }
      results.push(these);
    }
  } finally {
    await pods.stop();
  }
} finally {
  await sandbox.stop();
}

/** One run's figures: per stage, the p50 from first seen over the new pods of the bursts, and of the lone ones. */
function figures(r: { lone: PodMoments[]; bursts: PodMoments[] }): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [prefix, fresh] of [
    ['floor_new_replica', r.bursts],
    ['floor_lone_new_replica', r.lone],
  ] as const) {
    for (const [stage, values] of newReplicaStageMs(fresh, STAGES))
      if (values.length > 0) out[`${prefix}_${stage}_ms_p50`] = Math.round(percentile(values, 50));
  }
  return out;
}

console.log(`pod: ${withoutInit ? 'no init container, ' : 'init container, '}native sidecar, main container`);
console.log('scale 3→10 and burst 3→20:');
console.log(
  renderNewReplicaTable(
    results.flatMap((r) => r.bursts),
    STAGES,
  ),
);
console.log('');
console.log('lone 3→4:');
console.log(
  renderNewReplicaTable(
    results.flatMap((r) => r.lone),
    STAGES,
  ),
);
console.log('');
console.log('Times from the pod first seen by a pod watch; every run together. JSON: median over the runs.');
console.log(JSON.stringify({ runs, without_init: withoutInit, ...acrossRuns(results.map(figures)) }));
