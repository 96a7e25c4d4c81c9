/**
 * `npm run bench`: a benchmark, not a test. On the sandbox (real control plane, one real node, the webhook
 * from deploy/ injecting a labelled HAProxy Deployment, so each pod runs our image's syncer beside HAProxy) it scales 3 → 10 → 3 and bursts 3 → 20, and measures per replica the time
 * from the EndpointSlice change (the moment the slice first holds the final replica set, seen by a
 * watch in this process) to its peers file and to its live peers section (after the reload) holding
 * that set, and to every link established; reloads per replica (master `show proc`); syncer RSS.
 * Prints a table, then one JSON line. Arguments are passed to every syncer as extra flags.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { startSandbox } from '../test/harness/sandbox.ts';
import { restartedContainers } from '../test/harness/e2e-example.ts';
import { meshed, startWorkload, type Workload, type WorkloadPod } from '../test/harness/workload.ts';
import { createLogger } from '../common/logger.ts';
import { watchEndpointSlices } from '../syncer/watch.ts';
import { kubeconfigAccess } from '../syncer/kube-client.ts';
import { parsePeersFile } from '../syncer/peers.ts';
import { renderTable, summary, type ScenarioResult } from './stats.ts';

// The node exists only inside the lab namespaces: re-run there when started outside.
if (process.env.HPS_LAB_NETNS !== '1') {
  const root = resolve(import.meta.dirname, '..');
  const r = spawnSync('bash', [join(root, 'scripts/lab.sh'), process.execPath, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const names = (slices: readonly V1EndpointSlice[]): string =>
  slices.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.terminating !== true && e.targetRef?.name && e.addresses?.length)
    .map((e) => e.targetRef?.name ?? '').sort().join(',');

const sortedNames = (list: readonly string[]): string => [...list].sort().join(',');

async function scenario(lab: Workload, name: string, target: number, sliceSet: () => { set: string; at: number }): Promise<ScenarioResult> {
  const reloadsBefore = new Map<string, number>();
  for (const p of await lab.pods()) reloadsBefore.set(p.name, await p.reloadCount().catch(() => 0));
  const began = Date.now();
  await lab.scale(target);
  // The change: the first moment the slice holds `target` live endpoints.
  let change: { set: string; at: number } | undefined;
  const fileAt = new Map<string, number>();
  const sectionAt = new Map<string, number>();
  let linksAt: number | undefined;
  while (linksAt === undefined) {
    if (Date.now() - began > 300_000) throw new Error(`${name}: no convergence within 300 s`);
    const s = sliceSet();
    if (change === undefined && s.at >= began && s.set.split(',').filter(Boolean).length === target) change = s;
    const live = await lab.pods();
    if (change !== undefined && live.length === target && sortedNames(live.map((p) => p.name)) === change.set) {
      for (const p of live) {
        if (!fileAt.has(p.name)) {
          const file = parsePeersFile(await p.peersFile().catch(() => ''));
          if (sortedNames(file.peers.map((x) => x.name)) === change.set) fileAt.set(p.name, Date.now());
        } else if (!sectionAt.has(p.name)) {
          const section = await p.showPeers().catch(() => undefined);
          if (section && sortedNames(section.peers.map((x) => x.name)) === change.set) sectionAt.set(p.name, Date.now());
        }
      }
      if (sectionAt.size === target && (await meshed(live))) linksAt = Date.now();
    }
    await sleep(10);
  }
  if (change === undefined) throw new Error('unreachable');
  const live = await lab.pods();
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
  }
  const changeAt = change.at;
  const existing = live.filter((p) => reloadsBefore.has(p.name));
  const fresh = live.filter((p) => !reloadsBefore.has(p.name));
  const since = (t: number | undefined): number => Math.max(0, (t ?? changeAt) - changeAt);
  return {
    name, replicas: target,
    fileMs: existing.map((p) => since(fileAt.get(p.name))),
    sectionMs: existing.map((p) => since(sectionAt.get(p.name))),
    newMs: fresh.map((p) => (sectionAt.get(p.name) ?? p.createdAt) - p.createdAt),
    linksMs: since(linksAt), reloadsMax, reloadsNewMax, rssMbMax, privateMbMax, pssMbMax, workingSetMbMax,
  };
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

if (process.argv.length > 2) {
  process.stderr.write('bench: takes no arguments (the syncers run as the webhook injects them)\n');
  process.exit(2);
}
// Everything as in a cluster: the image built from the Dockerfile, injected by the webhook from deploy/.
const sandbox = await startSandbox();
await sandbox.installWebhook();
const lab = await startWorkload(sandbox, { replicas: 3, name: 'bench' });
let current = { set: '', at: 0 };
const watch = watchEndpointSlices({
  access: await kubeconfigAccess(sandbox.controlPlane.kubeconfigPath), namespace: lab.namespace, service: lab.name, log: createLogger('bench', 'silent'),
  onChange: () => {
    const set = names(watch.slices() ?? []);
    if (set !== current.set) current = { set, at: Date.now() };
  },
});
const results: ScenarioResult[] = [];
let restarts: string[] = [];
try {
  for (const [label, target] of [['scale 3→10', 10], ['scale 10→3', 3], ['burst 3→20', 20], ['back 20→3', 3]] as const) {
    await settle(await lab.pods());
    process.stderr.write(`bench: ${label}…\n`);
    results.push(await scenario(lab, label, target, () => current));
  }
} finally {
  await watch.stop();
  restarts = await restartedContainers(sandbox).catch((err: unknown) => [`could not read container statuses: ${String(err)}`]);
  await sandbox.stop();
}
console.log(renderTable(results));
console.log('');
console.log('file / section: per replica that existed before the change, EndpointSlice change → its peers file rewritten /');
console.log('its live HAProxy peers section holding the new set (after the reload). new replica: pod start (syncer spawned) →');
console.log('its live section complete. links up: change → every link of every replica ESTA. reloads: master `show proc`.');
console.log('RSS = VmRSS (includes the file-backed Node binary shared between processes); PSS = private + a fair share of');
console.log('the shared pages; private = RssAnon; working set = the syncer container\'s memory cgroup usage − inactive file,');
console.log('as the kubelet counts it against the limit. The syncers run the image built from the Dockerfile, on the real node.');
// Every container must have run within the limits the product sets: a restart or an OOM kill fails the bench.
if (restarts.length > 0) console.log(`containers restarted or OOM-killed: ${restarts.join('; ')}`);
console.log(JSON.stringify({ ...summary(results), container_restarts: restarts.length }));
process.exit(restarts.length > 0 ? 1 : 0);
