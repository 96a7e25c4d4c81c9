/**
 * `npm run bench`: a benchmark, not a test. On the lab (real control plane, kubelet stand-in, one real
 * HAProxy + syncer per pod) it scales 3 → 10 → 3 and bursts 3 → 20, and measures per replica the time
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
import { startLab, meshed, type Lab, type LabPod } from '../test/harness/haproxy-lab.ts';
import { createLogger } from '../common/logger.ts';
import { watchEndpointSlices } from '../syncer/watch.ts';
import { kubeconfigAccess } from '../syncer/kube-client.ts';
import { parsePeersFile } from '../syncer/peers.ts';
import { renderTable, summary, type ScenarioResult } from './stats.ts';

// The pod network exists only inside the lab network namespace: re-run there when started outside.
if (process.env.HPS_LAB_NETNS !== '1') {
  const root = resolve(import.meta.dirname, '..');
  const r = spawnSync('bash', [join(root, 'scripts/lab.sh'), process.execPath, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const names = (slices: readonly V1EndpointSlice[]): string =>
  slices.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.terminating !== true && e.targetRef?.name && e.addresses?.length)
    .map((e) => e.targetRef?.name ?? '').sort().join(',');

const sortedNames = (list: readonly string[]): string => [...list].sort().join(',');

async function scenario(lab: Lab, name: string, target: number, sliceSet: () => { set: string; at: number }): Promise<ScenarioResult> {
  const reloadsBefore = new Map<string, number>();
  for (const p of lab.pods.values()) reloadsBefore.set(p.name, (await p.haproxy?.reloadCount()) ?? 0);
  const began = Date.now();
  await lab.scale(target);
  // The change: the first moment the slice holds `target` live endpoints.
  let change: { set: string; at: number } | undefined;
  const fileAt = new Map<string, number>();
  const sectionAt = new Map<string, number>();
  let linksAt: number | undefined;
  while (linksAt === undefined) {
    if (Date.now() - began > 120_000) throw new Error(`${name}: no convergence within 120 s`);
    const s = sliceSet();
    if (change === undefined && s.at >= began && s.set.split(',').filter(Boolean).length === target) change = s;
    const live = [...lab.pods.values()];
    if (change !== undefined && live.length === target && sortedNames(live.map((p) => p.name)) === change.set) {
      for (const p of live) {
        if (!fileAt.has(p.name)) {
          const file = parsePeersFile(readPeersFile(p));
          if (sortedNames(file.peers.map((x) => x.name)) === change.set) fileAt.set(p.name, Date.now());
        } else if (!sectionAt.has(p.name) && p.haproxy) {
          const section = await p.haproxy.showPeers().catch(() => undefined);
          if (section && sortedNames(section.peers.map((x) => x.name)) === change.set) sectionAt.set(p.name, Date.now());
        }
      }
      if (sectionAt.size === target && (await meshed(live))) linksAt = Date.now();
    }
    await sleep(10);
  }
  if (change === undefined) throw new Error('unreachable');
  const live = [...lab.pods.values()];
  let reloadsMax = 0;
  let reloadsNewMax = 0;
  let rssMbMax = 0;
  let privateMbMax = 0;
  let pssMbMax = 0;
  for (const p of live) {
    const reloads = ((await p.haproxy?.reloadCount()) ?? 0) - (reloadsBefore.get(p.name) ?? 0);
    if (reloadsBefore.has(p.name)) reloadsMax = Math.max(reloadsMax, reloads);
    else reloadsNewMax = Math.max(reloadsNewMax, reloads);
    rssMbMax = Math.max(rssMbMax, p.rssMb());
    privateMbMax = Math.max(privateMbMax, p.privateMb());
    pssMbMax = Math.max(pssMbMax, p.pssMb());
  }
  const changeAt = change.at;
  const existing = live.filter((p) => reloadsBefore.has(p.name));
  const fresh = live.filter((p) => !reloadsBefore.has(p.name));
  const since = (t: number | undefined): number => Math.max(0, (t ?? changeAt) - changeAt);
  return {
    name, replicas: target,
    fileMs: existing.map((p) => since(fileAt.get(p.name))),
    sectionMs: existing.map((p) => since(sectionAt.get(p.name))),
    newMs: fresh.map((p) => (sectionAt.get(p.name) ?? p.startedAt) - p.startedAt),
    linksMs: since(linksAt), reloadsMax, reloadsNewMax, rssMbMax, privateMbMax, pssMbMax,
  };
}

/** The pod's peers file, empty while its syncer has not written one yet. */
function readPeersFile(p: LabPod): string {
  try { return readFileSync(join(p.dir, 'peers.cfg'), 'utf8'); } catch { return ''; }
}

/** Lets the replicas finish their start-up resync (5 s on 2.6) so each scenario starts from rest. */
async function settle(pods: Iterable<LabPod>): Promise<void> {
  for (const p of pods) {
    for (let i = 0; i < 100; i++) {
      const s = await p.haproxy?.showPeers().catch(() => undefined);
      if (s && (s.flags & 0x3) === 0x3) break;
      await sleep(100);
    }
  }
}

// Extra arguments are syncer flags (e.g. `npm run bench -- --coalesce-max=3s`), to measure trade-offs.
const syncerArgs = process.argv.slice(2);
if (syncerArgs.length > 0) process.stderr.write(`bench: syncer flags ${syncerArgs.join(' ')}\n`);
// The syncers run as the container image runs them: compiled JavaScript (tsconfig.build.json).
const root = resolve(import.meta.dirname, '..');
const build = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (build.status !== 0) throw new Error('bench: building dist/ failed');
const lab = await startLab({ replicas: 3, syncerArgs, syncerEntry: join(root, 'dist/bin/haproxy-peer-sync.js') });
let current = { set: '', at: 0 };
const watch = watchEndpointSlices({
  access: await kubeconfigAccess(lab.controlPlane.kubeconfigPath), namespace: lab.namespace, service: lab.name, log: createLogger('bench', 'silent'),
  onChange: () => {
    const set = names(watch.slices() ?? []);
    if (set !== current.set) current = { set, at: Date.now() };
  },
});
const results: ScenarioResult[] = [];
try {
  for (const [label, target] of [['scale 3→10', 10], ['scale 10→3', 3], ['burst 3→20', 20], ['back 20→3', 3]] as const) {
    await settle(lab.pods.values());
    process.stderr.write(`bench: ${label}…\n`);
    results.push(await scenario(lab, label, target, () => current));
  }
} finally {
  await watch.stop();
  await lab.stop();
}
console.log(renderTable(results));
console.log('');
console.log('file / section: per replica that existed before the change, EndpointSlice change → its peers file rewritten /');
console.log('its live HAProxy peers section holding the new set (after the reload). new replica: pod start (syncer spawned) →');
console.log('its live section complete. links up: change → every link of every replica ESTA. reloads: master `show proc`.');
console.log('RSS = VmRSS (includes the file-backed Node binary shared between processes); PSS = private + a fair share of');
console.log('the shared pages; private = RssAnon. The syncers run compiled JavaScript, as in the container image.');
console.log(JSON.stringify(summary(results)));
process.exit(0);
