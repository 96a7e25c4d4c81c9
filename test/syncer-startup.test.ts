// Start-up order and readiness on the real node, with each HAProxy image: the syncer (a native sidecar)
// starts before HAProxy, which the kubelet starts once the syncer's startupProbe passes; a new replica
// passes the start-up gate, is taught by the synced ones and becomes Ready only once taught (within a
// second); a replica refused (UNKN) by replicas that have not declared it cannot be taught, and stays
// un-Ready with a reason naming them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { dialectFor, describeSectionFlags } from '../syncer/haproxy-version.ts';
import { waitFor } from './harness/processes.ts';
import { sandboxForTests } from './harness/sandbox.ts';
import {
  HAPROXY_IMAGES,
  SYNCER,
  startWorkload,
  type HaproxyBranch,
  type Workload,
  type WorkloadPod,
} from './harness/workload.ts';

const run = promisify(execFile);
const sb = sandboxForTests({ webhook: true });

/**
 * Cuts a pod's network namespace off the `kubernetes` Service in both directions, as a network policy
 * or a partition would: what it sends there is rejected (TCP reset) and what comes from there is
 * dropped. Rejecting only what it sends is not enough: an open watch keeps receiving events (the data
 * arrives before the rejected ACK would go out), so the syncer would still learn of changes. Returns
 * what lifts the cut. The pod's own probes (the kubelet dials in) are not affected.
 */
async function cutOffApiserver(pid: number): Promise<() => Promise<void>> {
  const rules = [
    ['OUTPUT', '-d', '10.0.0.1', '-p', 'tcp', '--dport', '443', '-j', 'REJECT', '--reject-with', 'tcp-reset'],
    ['INPUT', '-s', '10.0.0.1', '-p', 'tcp', '--sport', '443', '-j', 'DROP'],
  ];
  const iptables = (...args: string[]): Promise<unknown> =>
    run('nsenter', [`--net=/proc/${pid}/ns/net`, 'iptables', '-w', ...args]);
  for (const rule of rules) await iptables('-I', ...rule);
  return async () => {
    for (const rule of rules) await iptables('-D', ...rule);
  };
}
const fullVersion = async (p: WorkloadPod): Promise<string> => (await p.masterCli('show version')).trim();
const newPod = (w: Workload, old: readonly WorkloadPod[]): Promise<WorkloadPod> =>
  waitFor(async () => (await w.pods()).find((p) => !old.some((o) => o.name === p.name)), {
    what: 'the new pod with an IP',
    timeoutMs: 60_000,
    intervalMs: 25,
  });

for (const branch of Object.keys(HAPROXY_IMAGES) as HaproxyBranch[]) {
  describe(`haproxy:${branch}`, () => {
    let lab: Workload | undefined;
    const wl = (): Workload => {
      if (lab === undefined) throw new Error('no workload');
      return lab;
    };
    before(async () => {
      lab = await startWorkload(sb(), { replicas: 2, haproxy: branch, name: `start${branch.replace('.', '')}` });
    });
    after(async () => {
      await lab?.delete();
    });

    test('the syncer starts before HAProxy, waits for it without crashing, and reports its version', async () => {
      const pods = await wl().waitConverged(2);
      for (const p of pods) {
        // The kubelet reports container states a moment after they change.
        const haproxy = await waitFor(
          async () => {
            const s = await sb().containerStatus(wl().namespace, p.name, 'haproxy');
            return s?.state?.running === undefined ? undefined : s;
          },
          { what: `${p.name}: HAProxy reported running`, timeoutMs: 30_000 },
        );
        const syncer = await sb().containerStatus(wl().namespace, p.name, SYNCER);
        const started = (s: typeof syncer): number => new Date(s?.state?.running?.startedAt ?? 0).getTime();
        assert.ok(
          started(syncer) > 0 && started(syncer) <= started(haproxy),
          `${p.name}: the syncer started first (${JSON.stringify(syncer?.state)} / ${JSON.stringify(haproxy?.state)})`,
        );
        assert.equal(syncer?.restartCount, 0, `${p.name}: the syncer never restarted`);
        await waitFor(async () => (await p.readyz()) === 200 || undefined, {
          what: `${p.name} ready`,
          timeoutMs: 30_000,
        });
        const log = await p.log();
        assert.match(log, /HAProxy master socket not answering yet/, `${p.name}: the syncer ran before HAProxy`);
        assert.equal(log.split('\n').filter((l) => l.includes('"msg":"starting"')).length, 1, 'started once');
        const full = await fullVersion(p);
        const metrics = await p.metrics();
        for (const m of [
          'haproxy_peer_sync_syncer_reconciles_total{result="success"}',
          'haproxy_peer_sync_syncer_desired_peers 2',
          'haproxy_peer_sync_syncer_applied_peers 2',
          'haproxy_peer_sync_syncer_ready 1',
          'haproxy_peer_sync_syncer_last_success_timestamp_seconds',
          `haproxy_peer_sync_syncer_haproxy_info{version="${full}",branch="${branch}",known="true"} 1`,
        ]) {
          assert.ok(metrics.includes(m), `${p.name}: metrics include ${m}`);
        }
      }
    });

    test('a new replica joining two synced ones passes the gate, is taught, and is Ready only once taught — within a second', async (t) => {
      const old = await wl().waitConverged(2);
      const [first] = old;
      assert.ok(first);
      await first.setTable('learned', 9);
      for (const p of old)
        await waitFor(async () => (await p.showTable()).get('learned'), {
          what: `learned on ${p.name}`,
          timeoutMs: 10_000,
        });
      await wl().waitReady(old.map((p) => p.name));
      await wl().scale(3);
      const fresh = await newPod(wl(), old);
      // HAProxy's master socket answers once the kubelet started it, after the sidecar's startupProbe.
      const upAt = await waitFor(
        async () => ((await fullVersion(fresh).catch(() => '')) !== '' ? Date.now() : undefined),
        { what: `${fresh.name}'s HAProxy`, timeoutMs: 60_000, intervalMs: 25 },
      );
      const d = dialectFor(await fullVersion(fresh));
      assert.ok(d.known);
      let taughtAt: number | undefined;
      let flagsWhenTaught = 0;
      const readyAt = await waitFor(
        async () => {
          const code = await fresh.readyz();
          const section = await fresh.showPeers().catch(() => undefined);
          const has = (await fresh.showTable().catch(() => new Map<string, string>())).has('learned');
          if (has && taughtAt === undefined) {
            taughtAt = Date.now();
            flagsWhenTaught = section?.flags ?? 0;
          }
          if (code === 200) {
            assert.ok(has, 'Ready implies taught: the entry written before it started is in its table');
            return Date.now();
          }
          return undefined;
        },
        { what: `${fresh.name} ready`, timeoutMs: 30_000, intervalMs: 25 },
      );
      assert.ok(taughtAt !== undefined);
      t.diagnostic(
        `HAProxy up → taught ${taughtAt - upAt} ms; taught → Ready ${readyAt - taughtAt} ms; ` +
          `flags when taught 0x${flagsWhenTaught.toString(16)} (${describeSectionFlags(flagsWhenTaught, d.dialect)})`,
      );
      assert.notEqual(
        flagsWhenTaught & d.dialect.sectionFlags.remoteFinished,
        0,
        'taught by a remote peer that said "finished"',
      );
      assert.ok(readyAt - taughtAt <= 1000, `Ready ${readyAt - taughtAt} ms after being taught`);
      assert.match(await fresh.log(), /"msg":"tables taught: ready"/);
    });
  });

  describe(`haproxy:${branch}, a newcomer's HAProxy started without the gate (sidecar-mode regular)`, () => {
    let lab: Workload | undefined;
    const cutOff: (() => Promise<void>)[] = [];
    const wl = (): Workload => {
      if (lab === undefined) throw new Error('no workload');
      return lab;
    };
    before(async () => {
      // The old replicas pass the gate (native sidecars): two regular-mode replicas started together both
      // become Ready only when neither is Ready before the other's syncer first sees its HAProxy running,
      // a race (README, "Known"); only the newcomer is regular (a rollout of that annotation, below).
      lab = await startWorkload(sb(), { replicas: 2, haproxy: branch, name: `unkn${branch.replace('.', '')}` });
    });
    after(async () => {
      for (const restore of cutOff.splice(0)) await restore().catch(() => {});
      await lab?.delete();
    });

    test('a replica refused (UNKN) by Ready replicas that have not declared it cannot be taught: un-Ready, the reason names them', async (t) => {
      const old = await wl().waitConverged(2);
      await old[0]?.setTable('learned', 9);
      await wl().waitReady(old.map((p) => p.name));
      // Cut the old replicas off the apiserver: their syncers cannot see (nor declare) the newcomer until
      // released, while they keep answering their probes, so the old replicas stay Ready.
      for (const p of old) {
        const pid = await p.syncerPid();
        assert.ok(pid !== undefined);
        cutOff.push(await cutOffApiserver(pid));
      }
      // A rollout to regular sidecars: with two replicas it adds one pod (maxSurge 25 % rounds up) and
      // removes none until that one is Ready (maxUnavailable rounds down to 0), which it never becomes.
      await sb().kubectl(
        ...['-n', wl().namespace, 'patch', `deployment/${wl().name}`, '--type=merge', '-p'],
        JSON.stringify({
          spec: { template: { metadata: { annotations: { 'haproxy-peer-sync.io/sidecar-mode': 'regular' } } } },
        }),
      );
      const fresh = await newPod(wl(), old);
      // Without the gate HAProxy starts at once, with the init container's file (this replica alone) unless
      // the syncer wrote the whole set first. Either way the file soon names the old replicas…
      await waitFor(
        async () => (await fresh.peersFile().catch(() => '')).match(/^\s+peer /gm)?.length === 3 || undefined,
        { what: 'the first file to list 3 peers', timeoutMs: 30_000 },
      );
      // …and its HAProxy, or the worker the syncer's reload started, dials them and is refused: they do not
      // know its name yet. HAProxy does not retry after UNKN.
      let seen = '';
      await waitFor(
        async () => {
          const s = await fresh.showPeers();
          seen =
            s === undefined
              ? 'no section'
              : `flags=0x${s.flags.toString(16)} ${s.peers.map((x) => `${x.name}(${x.local ? 'local' : 'remote'},${x.active ? 'active' : 'inactive'}) ${x.lastStatus}${x.appState === undefined ? '' : ` ${x.appState}`}`).join(', ')}`;
          return s && old.every((o) => s.peers.find((x) => x.name === o.name)?.lastStatus === 'UNKN')
            ? true
            : undefined;
        },
        { what: 'UNKN from the old replicas', timeoutMs: 30_000, intervalMs: 20 },
      ).catch(async (err: unknown) => {
        throw new Error(
          `${(err as Error).message}; last show peers: ${seen}; reloads: ${await fresh.reloadCount().catch(() => '?')}; ` +
            `/readyz: ${JSON.stringify(await fresh.readyzBody())}\nsyncer log:\n${await fresh.log().catch(() => '')}`,
          { cause: err },
        );
      });
      assert.equal(await fresh.readyz(), 503);
      // HAProxy started with the init container's file and reloaded: its new worker was "taught" by the old
      // one, which had no one to learn from (2.6 0x1103, 3.0 0x11000003: the lesson says "finished").
      const reloaded = (await fresh.reloadCount()) > 0;
      const d = dialectFor(await fullVersion(fresh));
      assert.ok(d.known);
      const flags = (await fresh.showPeers())?.flags ?? 0;
      const master = (await fresh.masterCli('show proc'))
        .split('\n')
        .find((l) => /\bmaster\b/.test(l))
        ?.trim()
        .replace(/\s+/g, ' ');
      t.diagnostic(
        `${reloaded ? "reloaded after starting with the init container's file" : 'started with the whole file'}: ` +
          `flags 0x${flags.toString(16)} (${describeSectionFlags(flags, d.dialect)}); show proc: ${master ?? '?'}`,
      );
      // The reason a user reads: the resync ended without a teacher; after a reload it also says that the
      // reload passed that untaught table on (the flags then say "taught by the old worker", not "timed out").
      const untaught = reloaded
        ? 'resync timed out without a teacher, then a reload passed the untaught table on'
        : 'resync timed out without a teacher';
      let last = '';
      const refused = await waitFor(
        async () => {
          const r = await fresh.readyzBody();
          last = `${r.status} ${r.text}`;
          return r.status === 503 && r.text.startsWith(`${untaught}; no link to ready replicas: `) ? r.text : undefined;
        },
        { what: '/readyz naming the replicas that refuse it', timeoutMs: 20_000 },
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; last /readyz: ${last}`, { cause: err });
      });
      t.diagnostic(`/readyz: ${refused}`);
      for (const o of old)
        assert.ok(refused.includes(`${o.name} (UNKN: it does not declare this replica)`), `the reason names ${o.name}`);
      assert.match(await fresh.log(), /ended its table resync without a teacher while ready replicas exist/);
      // Released, the old replicas reload with the newcomer declared and dial it themselves: the mesh closes…
      for (const restore of cutOff.splice(0)) await restore();
      await wl().waitConverged(3);
      // …but nobody teaches it any more: it never claims readiness with an untaught table.
      await waitFor(async () => (await fresh.readyzBody()).text === untaught || undefined, {
        what: '/readyz without the refusals',
        timeoutMs: 10_000,
      });
      for (let i = 0; i < 10; i++) {
        const r = await fresh.readyzBody();
        assert.deepEqual([r.status, r.text], [503, untaught]);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      assert.equal((await fresh.showTable()).has('learned'), false);
    });
  });
}
