/**
 * Disruptions while the replica set changes: a pod deleted mid-sync, a syncer SIGKILLed, a syncer
 * container restarted. Each time the replica set must converge again, no replica may keep a peer for
 * a pod that is gone (read from HAProxy's `show peers` and from the peers file), and no entry is lost.
 * Once with each HAProxy image.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { waitFor } from './harness/processes.ts';
import { HAPROXY_IMAGES, type HaproxyBranch } from './harness/workload.ts';
import { startSandbox, type ReplicaState, type Sandbox } from './harness/sandbox.ts';
import {
  NS,
  STEP_TIMEOUT_MS,
  SYNCER,
  bringUpExample,
  haproxyPods,
  missingEntries,
  waitEntriesEverywhere,
  peerProblems,
  podReady,
  setEntries,
  tableKeys,
  waitConverged,
} from './harness/e2e-example.ts';

for (const branch of Object.keys(HAPROXY_IMAGES) as HaproxyBranch[])
  describe(`haproxy:${branch}`, () => {
    let sandbox: Sandbox | undefined;
    const sb = (): Sandbox => {
      if (sandbox === undefined) throw new Error('no sandbox');
      return sandbox;
    };
    const KEYS = Array.from({ length: 200 }, (_, i) => `disrupt-${String(i).padStart(3, '0')}`);

    before(async () => {
      sandbox = await startSandbox();
      const replicas = await bringUpExample(sandbox, HAPROXY_IMAGES[branch]);
      await setEntries(sandbox, replicas[0]?.pod ?? '', KEYS);
      await waitEntriesEverywhere(
        sb(),
        replicas.map((r) => r.pod),
        KEYS,
        'the entries on the 3 replicas',
      );
    });
    after(async () => {
      await sandbox?.stop();
    });

    /** Converged with `n` replicas, none of the `gone` pods live, no stale peer anywhere, every entry held. */
    async function assertClean(n: number, what: string, gone: readonly string[]): Promise<ReplicaState[]> {
      const live = await waitConverged(sb(), n, what);
      const names = live.map((r) => r.pod);
      assert.deepEqual(
        names.filter((p) => gone.includes(p)),
        [],
        `deleted pods still live after ${what}`,
      );
      assert.deepEqual(await peerProblems(sb(), live), [], `peers after ${what}`);
      assert.deepEqual(await missingEntries(sb(), names, KEYS), {}, `entries after ${what}`);
      return live;
    }

    const deletePod = (name: string): Promise<string> => sb().kubectl('delete', 'pod', name, '--wait=false');
    const name = (p: V1Pod | undefined): string => p?.metadata?.name ?? '';

    test('pods deleted mid-sync while 3 → 5 converges', async () => {
      const old = await haproxyPods(sb());
      const oldNames = new Set(old.map(name));
      await sb().kubectl('scale', 'deployment/haproxy', '--replicas=5');
      // Mid-sync: a newcomer whose syncer already runs (peers announced, HAProxy learning) but not Ready.
      const newcomer = await waitFor(
        async () => {
          for (const p of await haproxyPods(sb())) {
            if (!oldNames.has(name(p)) && !podReady(p) && (await sb().containerPid(NS, name(p), SYNCER)) !== undefined)
              return p;
          }
          return undefined;
        },
        { what: 'a newcomer mid-sync', timeoutMs: STEP_TIMEOUT_MS, intervalMs: 100 },
      );
      // And an old replica, whose syncer is busy adding the newcomers and which may be teaching them.
      const gone = [name(newcomer), name(old[0])];
      await Promise.all(gone.map(deletePod));
      await assertClean(5, 'deleting two pods mid-sync', gone);
    });

    /** Waits until the syncer of `pod` runs as a new process and its container status counts the restart. */
    async function waitSyncerRestarted(pod: string, oldPid: number, restartsBefore: number): Promise<void> {
      await waitFor(
        async () => {
          const pid = await sb().containerPid(NS, pod, SYNCER);
          return pid !== undefined && pid !== oldPid && (await syncerRestarts(pod)) > restartsBefore;
        },
        { what: `the syncer of ${pod} to run again`, timeoutMs: 120_000, intervalMs: 100 },
      );
    }

    async function syncerRestarts(pod: string): Promise<number> {
      return (await sb().containerStatus(NS, pod, SYNCER))?.restartCount ?? 0;
    }

    test('a syncer SIGKILLed while another replica is replaced', async () => {
      const [victim, replaced] = (await sb().replicas()).map((r) => r.pod);
      assert.ok(victim !== undefined && replaced !== undefined);
      const pid = await sb().containerPid(NS, victim, SYNCER);
      assert.ok(pid !== undefined, `${victim}: syncer pid`);
      const restarts = await syncerRestarts(victim);
      // The victim's syncer misses the deletion and the replacement: only its restart can catch up.
      process.kill(pid, 'SIGKILL');
      await deletePod(replaced);
      await waitSyncerRestarted(victim, pid, restarts);
      const live = await assertClean(5, 'SIGKILL of a syncer', [replaced]);
      assert.ok(
        live.some((r) => r.pod === victim),
        `${victim} survived`,
      );
    });

    test('a syncer container restarted while another replica is replaced', async () => {
      const [victim, replaced] = (await sb().replicas()).map((r) => r.pod);
      assert.ok(victim !== undefined && replaced !== undefined);
      const pid = (await sb().containerPid(NS, victim, SYNCER)) ?? 0;
      const restarts = await syncerRestarts(victim);
      await Promise.all([sb().restartContainer(NS, victim, SYNCER), deletePod(replaced)]);
      await waitSyncerRestarted(victim, pid, restarts);
      const live = await assertClean(5, 'restart of a syncer container', [replaced]);
      assert.ok(
        live.some((r) => r.pod === victim),
        `${victim} survived`,
      );
    });

    test('an HAProxy container restarted (its table lost) learns it again from its peers', async (t) => {
      const [victim] = (await sb().replicas()).map((r) => r.pod);
      assert.ok(victim !== undefined);
      const workerPid = async (): Promise<string | undefined> =>
        /^Pid: (\d+)$/m.exec(await sb().masterCli(NS, victim, '@1 show info'))?.[1];
      const oldWorker = await workerPid();
      await sb().restartContainer(NS, victim, 'haproxy');
      // What the new worker held when it first answered: how much there was to re-learn (diagnostic only).
      const first = await waitFor(
        async () => ({ worker: await workerPid(), entries: (await tableKeys(sb(), victim)).size }),
        { what: `${victim}'s new HAProxy to answer`, timeoutMs: 60_000, intervalMs: 20 },
      );
      assert.notEqual(first.worker, oldWorker, 'a new HAProxy worker (the old one, with its table, is gone)');
      t.diagnostic(`${victim}: the new HAProxy worker first answered with ${first.entries} of ${KEYS.length} entries`);
      // The fresh HAProxy starts with an empty table and the same peers file; the others must teach it.
      const live = await assertClean(5, 'restart of an HAProxy container', []);
      assert.ok(
        live.some((r) => r.pod === victim),
        `${victim} survived`,
      );
    });

    test('after the restarts, the syncers follow 5 → 3 on their own', async () => {
      const before = new Set((await sb().replicas()).map((r) => r.pod));
      await sb().kubectl('scale', 'deployment/haproxy', '--replicas=3');
      const live = await assertClean(3, 'scaling 5 → 3 after the restarts', []);
      assert.ok(live.every((r) => before.has(r.pod)));
    });
  });
