/**
 * `npm run bench`: a benchmark, not a test. On the sandbox (real control plane, one real node, the webhook
 * from deploy/ injecting a labelled HAProxy Deployment, so each pod runs our image's syncer beside
 * HAProxy) it scales 3 → 4 → 3 (one pod at a time, a rolling update's step), 3 → 10 → 3 and 3 → 20 → 3,
 * `--runs` times (default 3), and measures per replica the
 * time from the EndpointSlice change (the moment the slice first holds the final replica set, seen by a
 * watch in this process) to its peers file and to its live peers section (after the reload) holding
 * that set, and to every link established; reloads per replica (master `show proc`); syncer memory; and
 * per new replica where its time to Ready goes (bench/pod-observer.ts and the probes below).
 * Prints a table per run, the new-replica breakdown, then one JSON line: every figure as the median over
 * the runs, with `<name>_min` / `<name>_max` (bench/stats.ts, acrossRuns).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { startSandbox } from '../test/harness/sandbox.ts';
import { restartedContainers } from '../test/harness/e2e-example.ts';
import { meshed, startWorkload, type Workload, type WorkloadPod } from '../test/harness/workload.ts';
import { createLogger } from '../common/logger.ts';
import { watchEndpointSlices } from '../syncer/watch.ts';
import { kubeconfigAccess } from '../syncer/kube-client.ts';
import { parsePeersFile } from '../syncer/peers.ts';
import { peersInSlices } from '../syncer/desired.ts';
import {
  acrossRuns,
  NEW_REPLICA_STAGES,
  renderCpuLines,
  renderNewReplicaTable,
  renderTable,
  summary,
  type NewReplicaTimes,
  type ScenarioResult,
} from './stats.ts';
import { flagsOrExit, reRunInsideLab, RUNS_FLAG } from './entry.ts';
import { observePods, type PodObserver } from './pod-observer.ts';
import { containerAndPodCpuSeconds, cpuSpent, nodeCpuGroups, nodeProcessCpuSeconds } from './cpu-accounting.ts';

const FLAGS = {
  runs: RUNS_FLAG,
  'trace-dir': {
    kind: 'string',
    description:
      "write, per scenario, every EndpointSlice change this process saw (changes-<run>-<n>.json) and the existing replicas' syncer logs (<run>-<n>-<pod>.log) there, for a breakdown of the convergence time",
  },
} as const;
const { runs, 'trace-dir': traceDir } = flagsOrExit(FLAGS, 'bench');
reRunInsideLab();

/**
 * The replica set the slices declare, by the syncer's own rule (syncer/desired.ts): a leaving replica
 * stays declared while it still serves (its drain), so a scale-in's change is the moment it leaves the
 * set, and the drain before it is reported apart (`declared after`), not counted as convergence.
 */
const names = (slices: readonly V1EndpointSlice[]): string =>
  peersInSlices(slices, 0)
    .peers.map((p) => p.name)
    .join(',');

const sortedNames = (list: readonly string[]): string => [...list].sort().join(',');

/** The moments of a new replica only its own endpoints show: syncer up, start-up gate open, HAProxy up. */
interface ProbedMoments {
  syncerStarted?: number;
  gateOpen?: number;
  haproxyStarted?: number;
}

/** Probes every new replica (concurrently, apart from the convergence loop) until each moment was seen. */
function probeNewReplicas(
  live: () => WorkloadPod[],
  isNew: (name: string) => boolean,
): { moments: Map<string, ProbedMoments>; stop(): Promise<void> } {
  const moments = new Map<string, ProbedMoments>();
  let stopped = false;
  const probe = async (p: WorkloadPod): Promise<void> => {
    const m = moments.get(p.name) ?? {};
    moments.set(p.name, m);
    if (m.gateOpen === undefined) {
      const status = await p.startupz();
      const now = Date.now();
      if (status !== 0) m.syncerStarted ??= now;
      if (status === 200) m.gateOpen = now;
    }
    if (m.haproxyStarted === undefined && (await p.showPeers().catch(() => undefined)) !== undefined)
      m.haproxyStarted = Date.now();
  };
  const loop = (async () => {
    while (!stopped) {
      await Promise.all(
        live()
          .filter((p) => isNew(p.name))
          .map(probe),
      );
      // 100 ms: finer than any stage it times, and 17 starting syncers are not flooded with requests.
      await sleep(100);
    }
  })();
  return {
    moments,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function scenario(
  lab: Workload,
  pods: PodObserver,
  name: string,
  target: number,
  sliceSet: () => { set: string; at: number },
): Promise<{
  result: ScenarioResult;
  began: number;
  changeAt: number;
  existing: WorkloadPod[];
  seen: { file: Record<string, number>; section: Record<string, number> };
}> {
  const reloadsBefore = new Map<string, number>();
  const podList = (): WorkloadPod[] => lab.podsOf(pods.pods());
  const podCpuBefore = new Map<string, number>();
  for (const p of podList()) {
    reloadsBefore.set(p.name, await p.reloadCount().catch(() => 0));
    const pid = await p.syncerPid();
    const cpu = pid === undefined ? undefined : await containerAndPodCpuSeconds(pid);
    if (cpu !== undefined) podCpuBefore.set(p.name, cpu.pod);
  }
  const nodeCpuBefore = await nodeProcessCpuSeconds();
  const probes = probeNewReplicas(podList, (n) => !reloadsBefore.has(n));
  const began = Date.now();
  await lab.scale(target);
  // The change: the first moment the slice holds `target` live endpoints.
  let change: { set: string; at: number } | undefined;
  const fileAt = new Map<string, number>();
  const sectionAt = new Map<string, number>();
  let linksAt: number | undefined;
  // Until every link is up and every new replica Ready (or, for Ready, 120 s more).
  const allNewReady = (live: readonly WorkloadPod[]): boolean =>
    live.every((p) => reloadsBefore.has(p.name) || pods.moments(p.name)?.ready !== undefined);
  // The replicas that existed are read every 10 ms (their times are the convergence figures); the new
  // ones every 100 ms (their own figures are seconds), so 17 starting pods are not flooded.
  let newReadAt = 0;
  for (;;) {
    const live = podList();
    if (linksAt !== undefined && (Date.now() - linksAt > 120_000 || allNewReady(live))) break;
    if (Date.now() - began > 300_000) throw new Error(`${name}: no convergence within 300 s`);
    const s = sliceSet();
    if (change === undefined && s.at >= began && s.set.split(',').filter(Boolean).length === target) change = s;
    if (change !== undefined && live.length === target && sortedNames(live.map((p) => p.name)) === change.set) {
      const set = change.set;
      const readNew = Date.now() - newReadAt >= 100;
      if (readNew) newReadAt = Date.now();
      // Every replica at once: one after the other, 20 replicas took a few hundred ms per round, which
      // the figures then included.
      await Promise.all(
        live
          .filter((p) => readNew || reloadsBefore.has(p.name))
          .map(async (p) => {
            if (!fileAt.has(p.name)) {
              const file = parsePeersFile(await p.peersFile().catch(() => ''));
              if (sortedNames(file.peers.map((x) => x.name)) === set) fileAt.set(p.name, Date.now());
            }
            if (!sectionAt.has(p.name)) {
              const section = await p.showPeers().catch(() => undefined);
              if (section && sortedNames(section.peers.map((x) => x.name)) === set) sectionAt.set(p.name, Date.now());
            }
          }),
      );
      if (linksAt === undefined && sectionAt.size === target && readNew && (await meshed(live))) linksAt = Date.now();
    }
    await sleep(10);
  }
  await probes.stop();
  const nodeCpu = cpuSpent(nodeCpuBefore, await nodeProcessCpuSeconds());
  const cpu = { existing_pods: 0, new_pods: 0, new_syncers: 0 };
  if (change === undefined || linksAt === undefined) throw new Error('unreachable');
  const live = podList();
  let reloadsMax = 0;
  let reloadsNewMax = 0;
  let rssMbMax = 0;
  let privateMbMax = 0;
  let pssMbMax = 0;
  let workingSetMbMax = 0;
  for (const p of live) {
    const reloads = (await p.reloadCount()) - (reloadsBefore.get(p.name) ?? 0);
    if (reloadsBefore.has(p.name)) reloadsMax = Math.max(reloadsMax, reloads);
    else reloadsNewMax = Math.max(reloadsNewMax, reloads);
    const pid = await p.syncerPid();
    if (pid !== undefined) {
      rssMbMax = Math.max(rssMbMax, procStatusMb(pid, 'VmRSS'));
      privateMbMax = Math.max(privateMbMax, procStatusMb(pid, 'RssAnon'));
      pssMbMax = Math.max(pssMbMax, procStatusMb(pid, 'Pss', 'smaps_rollup'));
    }
    workingSetMbMax = Math.max(workingSetMbMax, await p.syncerWorkingSetMb());
    const used = pid === undefined ? undefined : await containerAndPodCpuSeconds(pid);
    if (used !== undefined && reloadsBefore.has(p.name))
      cpu.existing_pods += used.pod - (podCpuBefore.get(p.name) ?? 0);
    else if (used !== undefined) {
      cpu.new_pods += used.pod;
      cpu.new_syncers += used.container;
    }
  }
  const changeAt = change.at;
  const existing = live.filter((p) => reloadsBefore.has(p.name));
  const fresh = live.filter((p) => !reloadsBefore.has(p.name));
  const since = (t: number | undefined): number => Math.max(0, (t ?? changeAt) - changeAt);
  const times = fresh.map((p): NewReplicaTimes => {
    const observed = pods.moments(p.name);
    const probed = probes.moments.get(p.name);
    // Seen before the scale returned at the earliest: the observer lists every 50 ms from before it.
    return { ...observed, ...probed, seen: observed?.seen ?? p.createdAt, sectionComplete: sectionAt.get(p.name) };
  });
  const result: ScenarioResult = {
    name,
    replicas: target,
    declaredAfterMs: changeAt - began,
    fileMs: existing.map((p) => since(fileAt.get(p.name))),
    sectionMs: existing.map((p) => since(sectionAt.get(p.name))),
    newMs: times.map((t) => (t.sectionComplete ?? t.seen) - t.seen),
    linksMs: since(linksAt),
    reloadsMax,
    reloadsNewMax,
    rssMbMax,
    privateMbMax,
    pssMbMax,
    workingSetMbMax,
    fresh: times,
    cpuSeconds: { ...cpu, ...nodeCpuGroups(nodeCpu) },
  };
  const seen = { file: Object.fromEntries(fileAt), section: Object.fromEntries(sectionAt) };
  return { result, began, changeAt, existing, seen };
}

function procStatusMb(pid: number, field: string, file = 'status'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Lets the replicas finish their start-up resync (5 s on 2.6) so each scenario starts from rest. */
async function settle(pods: Iterable<WorkloadPod>): Promise<void> {
  for (const p of pods) {
    for (let i = 0; i < 100; i++) {
      const s = await p.showPeers().catch(() => undefined);
      if (s && (s.flags & 0x3) === 0x3) break;
      await sleep(100);
    }
  }
}

/** --trace-dir: the slice changes since `began` and the existing replicas' syncer logs. */
async function writeTrace(
  dir: string,
  id: string,
  at: { began: number; changeAt: number; seen: unknown },
  existing: readonly WorkloadPod[],
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const events = sliceEvents.filter((e) => e.at >= at.began);
  const initial = sliceEvents.filter((e) => e.at < at.began).at(-1)?.set ?? '';
  writeFileSync(join(dir, `changes-${id}.json`), JSON.stringify({ ...at, initial, events }));
  for (const p of existing) writeFileSync(join(dir, `${id}-${p.name}.log`), await p.log().catch(() => ''));
}

// Everything as in a cluster: the image built from the Dockerfile, injected by the webhook from deploy/.
const sandbox = await startSandbox();
await sandbox.installWebhook();
const lab = await startWorkload(sandbox, { replicas: 3, name: 'bench' });
let current = { set: '', at: 0 };
/** Every change of the slices this process saw: when, and the live replica set after it (--trace-dir). */
const sliceEvents: { at: number; set: string }[] = [];
/** One client for both watches of this process (the slices and the pods). */
const access = await kubeconfigAccess(sandbox.controlPlane.kubeconfigPath);
const watch = watchEndpointSlices({
  access,
  namespace: lab.namespace,
  service: lab.name,
  log: createLogger('bench', 'silent'),
  onChange: () => {
    const set = names(watch.slices() ?? []);
    if (traceDir !== undefined) sliceEvents.push({ at: Date.now(), set });
    if (set !== current.set) current = { set, at: Date.now() };
  },
});
const BURST = 'burst 3→20';
/** One pod in, one out: a rolling update's step, with the node otherwise at rest. */
const LONE_OUT = 'lone 3→4';
const LONE_IN = 'lone 4→3';
const LONE: readonly string[] = [LONE_OUT, LONE_IN];
const results: ScenarioResult[][] = [];
const pods = observePods(access, lab.namespace, `app=${lab.name}`);
await pods.listed;
let restarts: string[] = [];
try {
  for (let run = 1; run <= runs; run++) {
    const these: ScenarioResult[] = [];
    for (const [label, target] of [
      [LONE_OUT, 4],
      [LONE_IN, 3],
      ['scale 3→10', 10],
      ['scale 10→3', 3],
      [BURST, 20],
      ['back 20→3', 3],
    ] as const) {
      await settle(lab.podsOf(pods.pods()));
      process.stderr.write(`bench: run ${run}/${runs}: ${label}…\n`);
      const { result, began, changeAt, existing, seen } = await scenario(lab, pods, label, target, () => current);
      these.push(result);
      if (traceDir !== undefined)
        await writeTrace(traceDir, `${run}-${these.length}`, { began, changeAt, seen }, existing);
    }
    results.push(these);
  }
} finally {
  await pods.stop();
  await watch.stop();
  restarts = await restartedContainers(sandbox).catch((err: unknown) => [
    `could not read container statuses: ${String(err)}`,
  ]);
  await sandbox.stop();
}
results.forEach((these, i) => {
  console.log(`run ${i + 1}`);
  console.log(renderTable(these));
  console.log(renderCpuLines(these));
  console.log('');
});
const isLone = (r: ScenarioResult): boolean => LONE.includes(r.name);
console.log('scale 3→10 and burst 3→20:');
console.log(
  renderNewReplicaTable(
    results.flat().flatMap((r) => (isLone(r) ? [] : (r.fresh ?? []))),
    NEW_REPLICA_STAGES,
  ),
);
console.log('');
console.log('lone 3→4 (one pod at a time, as in a rolling update):');
console.log(
  renderNewReplicaTable(
    results.flat().flatMap((r) => (isLone(r) ? (r.fresh ?? []) : [])),
    NEW_REPLICA_STAGES,
  ),
);
console.log('');
console.log(
  'file / section: per replica that existed before the change, EndpointSlice change → its peers file rewritten /',
);
console.log(
  'its live HAProxy peers section holding the new set (after the reload). new replica: first seen by this process (a',
);
console.log("pod watch) → its live section complete; the breakdown above: first seen → each stage (every run's new");
console.log(
  'replicas together). links up: change → every link of every replica ESTA. reloads: master `show proc`; in the JSON',
);
console.log(
  "line reloads_per_existing_replica_max is the 3 → 20 burst's. JSON: median over the runs, _min/_max their spread.",
);
console.log(
  'RSS = VmRSS (includes the file-backed Node binary shared between processes); PSS = private + a fair share of',
);
console.log(
  "the shared pages; private = RssAnon; working set = the syncer container's memory cgroup usage − inactive file,",
);
console.log(
  'as the kubelet counts it against the limit. The syncers run the image built from the Dockerfile, on the real node.',
);
// Every container must have run within the limits the product sets: a restart or an OOM kill fails the bench.
if (restarts.length > 0) console.log(`containers restarted or OOM-killed: ${restarts.join('; ')}`);
console.log(
  JSON.stringify({
    runs,
    ...acrossRuns(results.map((these) => summary(these, BURST, LONE))),
    container_restarts: restarts.length,
  }),
);
process.exit(restarts.length > 0 ? 1 : 0);
