// The syncer end to end (direct mode): a Deployment behind a headless Service in a real control plane,
// each pod one real HAProxy + one real syncer process. One lab serves the subtests in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startLab, type Lab, type LabPod } from './harness/haproxy-lab.ts';
import { waitFor } from './harness/haproxy.ts';

let lab: Lab;
before(async () => { lab = await startLab({ replicas: 3 }); });
after(async () => { await lab?.stop(); });

const live = (): LabPod[] => [...lab.pods.values()];
const hap = (p: LabPod) => { assert.ok(p.haproxy, `${p.name} runs HAProxy`); return p.haproxy; };
async function readableEverywhere(key: string, pods: readonly LabPod[]): Promise<void> {
  for (const p of pods) await waitFor(`${key} on ${p.name}`, async () => (await hap(p).showTable()).get(key), 20_000);
}

test('3 replicas: each lists the other two ESTA; an entry written on one is readable on the others', async () => {
  const pods = await lab.waitConverged(3);
  const [first] = pods;
  assert.ok(first);
  await hap(first).setTable('before-scale', 1);
  await readableEverywhere('before-scale', pods);
  for (const p of pods) await waitFor(`${p.name} ready`, async () => ((await p.readyz()) === 200 ? true : undefined), 20_000);
});

test('scale 3 → 6: all six mesh and the new replicas have the old entries', async () => {
  const old = new Set(live().map((p) => p.name));
  await lab.scale(6);
  const pods = await lab.waitConverged(6);
  const fresh = pods.filter((p) => !old.has(p.name));
  assert.equal(fresh.length, 3);
  await readableEverywhere('before-scale', fresh);
  // Started behind the start-up gate, each newcomer was taught by a settled replica: Ready.
  for (const p of fresh) await waitFor(`${p.name} ready`, async () => ((await p.readyz()) === 200 ? true : undefined), 20_000);
});

test('scale 6 → 2: the removed replicas leave the survivors\' sections; entries survive', async () => {
  await lab.scale(2);
  const pods = await lab.waitConverged(2);
  await readableEverywhere('before-scale', pods);
  for (const p of lab.allPods.filter((x) => !lab.pods.has(x.name))) {
    assert.deepEqual(p.syncerExit, { code: 0, signal: null }, `${p.name}'s syncer exits 0 on SIGTERM`);
  }
});

test('a burst of 3 pods within a second costs at most 2 reloads per replica', async (t) => {
  const before = new Map<string, number>();
  for (const p of live()) before.set(p.name, await hap(p).reloadCount());
  await lab.scale(5);
  const pods = await lab.waitConverged(5);
  for (const p of pods) {
    const reloads = (await hap(p).reloadCount()) - (before.get(p.name) ?? 0);
    t.diagnostic(`${p.name}: ${reloads} reload(s)${before.has(p.name) ? '' : ' (new replica)'}`);
    assert.ok(reloads <= 2, `${p.name} reloaded ${reloads} times`);
  }
  await readableEverywhere('before-scale', pods);
});

test('kube-apiserver restart: the syncers re-list and converge on changes made around it, with no stale or duplicate peer', async () => {
  const lists = (p: LabPod): number => p.log().split('\n').filter((l) => l.includes('listed EndpointSlices')).length;
  const listedBefore = new Map(live().map((p) => [p.name, lists(p)]));
  await lab.controlPlane.restartApiserver();
  await lab.scale(3);
  const pods = await lab.waitConverged(3, 90_000);
  for (const p of pods) {
    const lines = readFileSync(`${p.dir}/peers.cfg`, 'utf8').split('\n').filter((l) => l.trim().startsWith('peer '));
    assert.equal(lines.length, 3, `${p.name}: ${lines.join('; ')}`);
    assert.equal(new Set(lines).size, 3);
    const earlier = listedBefore.get(p.name);
    if (earlier !== undefined) assert.ok(lists(p) > earlier, `${p.name} re-listed after the restart`);
  }
  await readableEverywhere('before-scale', pods);
});
