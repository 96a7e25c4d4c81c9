// The syncer end to end (direct mode) on the real node: a labelled Deployment behind a headless Service,
// each pod one HAProxy container and the injected syncer, for each HAProxy image. One sandbox serves
// both images; each gets its own namespace and runs the subtests in order.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './harness/processes.ts';
import { sandboxForTests } from './harness/sandbox.ts';
import {
  HAPROXY_IMAGES,
  startWorkload,
  type HaproxyBranch,
  type Workload,
  type WorkloadPod,
} from './harness/workload.ts';

const sb = sandboxForTests({ webhook: true });

async function readableEverywhere(key: string, pods: readonly WorkloadPod[]): Promise<void> {
  for (const p of pods)
    await waitFor(async () => (await p.showTable()).get(key), { what: `${key} on ${p.name}`, timeoutMs: 20_000 });
}
const ready = (p: WorkloadPod): Promise<true> =>
  waitFor(async () => (await p.readyz()) === 200 || undefined, {
    what: `${p.name} /readyz 200`,
    timeoutMs: 30_000,
  }).catch(async (err: unknown) => {
    // The syncer's reason and what it logged (its readiness verdicts are in its log) say why.
    const log = await p.log().catch(() => '');
    const r = await p.readyzBody();
    throw new Error(
      `${(err as Error).message}; /readyz ${r.status} ${r.text}; show peers:\n` +
        `${await p.masterCli('@1 show peers').catch(() => '?')}\nsyncer log:\n${log.split('\n').slice(-40).join('\n')}`,
      { cause: err },
    );
  });

for (const branch of Object.keys(HAPROXY_IMAGES) as HaproxyBranch[]) {
  describe(`haproxy:${branch}`, () => {
    let lab: Workload | undefined;
    const wl = (): Workload => {
      if (lab === undefined) throw new Error('no workload');
      return lab;
    };
    before(async () => {
      lab = await startWorkload(sb(), { replicas: 3, haproxy: branch });
    });
    after(async () => {
      await lab?.delete();
    });

    test('3 replicas: each lists the other two ESTA; an entry written on one is readable on the others', async () => {
      const pods = await wl().waitConverged(3);
      const [first] = pods;
      assert.ok(first);
      await first.setTable('before-scale', 1);
      await readableEverywhere('before-scale', pods);
      for (const p of pods) await ready(p);
    });

    test('scale 3 → 6: all six mesh and the new replicas have the old entries', async () => {
      const old = new Set((await wl().pods()).map((p) => p.name));
      await wl().scale(6);
      const pods = await wl().waitConverged(6);
      const fresh = pods.filter((p) => !old.has(p.name));
      assert.equal(fresh.length, 3);
      await readableEverywhere('before-scale', fresh);
      // Started behind the start-up gate, each newcomer was taught by a settled replica: Ready.
      for (const p of fresh) await ready(p);
    });

    test("scale 6 → 2: the removed replicas leave the survivors' sections; entries survive", async () => {
      await wl().scale(2);
      const pods = await wl().waitConverged(2);
      await readableEverywhere('before-scale', pods);
    });

    test('a burst of 3 pods within a second costs at most 2 reloads per replica', async (t) => {
      const before = new Map<string, number>();
      for (const p of await wl().pods()) before.set(p.name, await p.reloadCount());
      await wl().scale(5);
      const pods = await wl().waitConverged(5);
      for (const p of pods) {
        const reloads = (await p.reloadCount()) - (before.get(p.name) ?? 0);
        t.diagnostic(`${p.name}: ${reloads} reload(s)${before.has(p.name) ? '' : ' (new replica)'}`);
        assert.ok(reloads <= 2, `${p.name} reloaded ${reloads} times`);
      }
      await readableEverywhere('before-scale', pods);
    });

    test('kube-apiserver restart: the syncers re-list and converge on changes made around it, with no stale or duplicate peer', async () => {
      const lists = async (p: WorkloadPod): Promise<number> =>
        (await p.log()).split('\n').filter((l) => l.includes('listed EndpointSlices')).length;
      const listedBefore = new Map<string, number>();
      for (const p of await wl().pods()) listedBefore.set(p.name, await lists(p));
      await sb().controlPlane.restartApiserver();
      await wl().scale(3);
      const pods = await wl().waitConverged(3, 180_000);
      for (const p of pods) {
        const lines = (await p.peersFile()).split('\n').filter((l) => l.trim().startsWith('peer '));
        assert.equal(lines.length, 3, `${p.name}: ${lines.join('; ')}`);
        assert.equal(new Set(lines).size, 3);
        const earlier = listedBefore.get(p.name);
        if (earlier !== undefined) assert.ok((await lists(p)) > earlier, `${p.name} re-listed after the restart`);
      }
      await readableEverywhere('before-scale', pods);
    });
  });
}
