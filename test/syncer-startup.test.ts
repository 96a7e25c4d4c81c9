// Start-up order and readiness, end to end, on every supported HAProxy version: the syncer (a native
// sidecar) starts before HAProxy; a new replica passes the start-up gate, is taught by the synced ones and
// becomes Ready only once taught (within a second); a replica refused (UNKN) by replicas that have not
// declared it cannot be taught, and stays un-Ready with a reason naming them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLab, type Lab, type LabPod } from './harness/haproxy-lab.ts';
import { HAPROXY_VERSIONS, waitFor } from './harness/haproxy.ts';
import { dialectFor, describeSectionFlags } from '../syncer/haproxy-version.ts';

for (const version of HAPROXY_VERSIONS) {
  describe(`HAProxy ${version}`, () => {
    let lab: Lab;
    const paused: LabPod[] = [];
    before(async () => { lab = await startLab({ replicas: 2, deferHaproxy: true, haproxyVersion: version }); });
    after(async () => {
      for (const p of paused) try { process.kill(p.syncer.pid, 'SIGCONT'); } catch { /* gone */ }
      await lab?.stop();
    });

    const status = (p: LabPod, code: number) => waitFor(`${p.name} /readyz ${code}`, async () => ((await p.readyz()) === code ? true : undefined), 30_000);
    const body = async (p: LabPod, path: string): Promise<{ status: number; text: string }> => {
      const r = await fetch(`http://${p.ip}:8585${path}`, { signal: AbortSignal.timeout(2000) });
      return { status: r.status, text: (await r.text()).trim() };
    };

    test('syncers started before HAProxy write the first file, report 503, wait without crashing, then converge', async () => {
      const pods = await waitFor('2 pods with a syncer', () => (lab.pods.size === 2 ? [...lab.pods.values()] : undefined), 30_000);
      for (const p of pods) {
        await waitFor(`${p.name}'s peers file`, () => readFileSync(join(p.dir, 'peers.cfg'), 'utf8'), 20_000);
        await status(p, 503);
        await waitFor(`${p.name} waiting for HAProxy`, () => (p.log().includes('HAProxy master socket not answering yet') ? true : undefined));
        assert.match((await body(p, '/readyz')).text, /waiting for HAProxy/);
      }
      // Neither is Ready: the start-up gate has no one to wait for.
      for (const p of pods) assert.equal(await waitFor(`${p.name} /startupz`, async () => ((await p.startupz()) === 200 ? 200 : undefined), 20_000), 200);
      for (const p of pods) await p.startHaproxy();
      await lab.waitConverged(2);
      for (const p of pods) {
        await status(p, 200);
        assert.ok(p.syncer.isRunning());
        assert.equal(p.log().split('\n').filter((l) => l.includes('"msg":"starting"')).length, 1, 'started once, never restarted');
        const full = p.haproxy?.fullVersion ?? '';
        const metrics = await p.metrics();
        for (const m of ['hps_syncer_reconciles_total{result="success"}', 'hps_syncer_desired_peers 2', 'hps_syncer_applied_peers 2', 'hps_syncer_ready 1',
          'hps_syncer_last_success_timestamp_seconds', `hps_syncer_haproxy_info{version="${full}",branch="${version}",known="true"} 1`]) {
          assert.ok(metrics.includes(m), `metrics include ${m}`);
        }
        assert.match(p.log(), new RegExp(`"version":"${full.replaceAll('.', '\\.').replaceAll('+', '\\+')}","branch":"${version}"`));
      }
    });

    test('a new replica joining two synced ones passes the gate, is taught, and is Ready only once taught — within a second', async (t) => {
      const old = [...lab.pods.values()];
      const [first] = old;
      assert.ok(first?.haproxy);
      await first.haproxy.setTable('learned', 9);
      for (const p of old) await waitFor(`learned on ${p.name}`, async () => (await p.haproxy?.showTable())?.get('learned'), 10_000);
      await lab.waitReadyEndpoints(old.map((p) => p.name));
      await lab.scale(3);
      const fresh = await waitFor('the new pod', () => [...lab.pods.values()].find((p) => !old.includes(p)), 30_000);
      // The gate opens once both Ready replicas have reloaded with the newcomer declared.
      const gateAt = await waitFor(`${fresh.name} /startupz 200`, async () => ((await fresh.startupz()) === 200 ? Date.now() : undefined), 30_000, 25);
      const hap = await fresh.startHaproxy(); // as the kubelet does once the sidecar's startupProbe passes
      const startedAt = Date.now();
      const d = dialectFor(hap.fullVersion);
      assert.ok(d.known);
      let taughtAt: number | undefined;
      let flagsWhenTaught = 0;
      const readyAt = await waitFor(`${fresh.name} ready`, async () => {
        const code = await fresh.readyz();
        const section = await hap.showPeers().catch(() => undefined);
        const has = (await hap.showTable().catch(() => new Map<string, string>())).has('learned');
        if (has && taughtAt === undefined) { taughtAt = Date.now(); flagsWhenTaught = section?.flags ?? 0; }
        if (code === 200) {
          assert.ok(has, 'Ready implies taught: the entry written before it started is in its table');
          return Date.now();
        }
        return undefined;
      }, 20_000, 25);
      assert.ok(taughtAt !== undefined);
      t.diagnostic(`gate open → HAProxy up ${startedAt - gateAt} ms; up → taught ${taughtAt - startedAt} ms; taught → Ready ${readyAt - taughtAt} ms; `
        + `flags when taught 0x${flagsWhenTaught.toString(16)} (${describeSectionFlags(flagsWhenTaught, d.dialect)})`);
      assert.notEqual(flagsWhenTaught & d.dialect.sectionFlags.remoteFinished, 0, 'taught by a remote peer that said "finished"');
      assert.ok(readyAt - taughtAt <= 1000, `Ready ${readyAt - taughtAt} ms after being taught`);
      assert.match(fresh.log(), /"msg":"tables taught: ready"/);
    });

    test('a replica refused (UNKN) by Ready replicas that have not declared it cannot be taught: un-Ready, the reason names them', async (t) => {
      const old = [...lab.pods.values()];
      await lab.waitReadyEndpoints(old.map((p) => p.name));
      // Freeze the old replicas' syncers: they cannot declare the newcomer until released.
      for (const p of old) { process.kill(p.syncer.pid, 'SIGSTOP'); paused.push(p); }
      await lab.scale(old.length + 1);
      const fresh = await waitFor('the new pod', () => [...lab.pods.values()].find((p) => !old.includes(p)), 30_000);
      // Its first file already names the old replicas (they are in the slice), so its HAProxy dials them…
      await waitFor(`the first file to list ${old.length + 1} peers`, () => (readFileSync(join(fresh.dir, 'peers.cfg'), 'utf8').match(/^\s+peer /gm)?.length === old.length + 1 ? true : undefined), 20_000);
      // The start-up gate knows: /startupz stays 503 while the Ready replicas refuse its name.
      await waitFor('/startupz 503 naming the old replicas', async () => {
        const r = await body(fresh, '/startupz');
        return r.status === 503 && old.every((o) => r.text.includes(`${o.name}(504)`)) ? true : undefined;
      }, 20_000);
      // Start HAProxy anyway (as a pod without the startup probe would) to reproduce the refusal.
      const hap = await fresh.startHaproxy();
      await waitFor('UNKN from the old replicas', async () => {
        const s = await hap.showPeers();
        return s && old.every((o) => s.peers.find((x) => x.name === o.name)?.lastStatus === 'UNKN') ? true : undefined;
      }, 10_000, 20);
      assert.equal(await fresh.readyz(), 503);
      // HAProxy does not retry after UNKN: after its 5 s resync timeout the replica can no longer be taught.
      const refused = await waitFor('/readyz naming the replicas that refuse it', async () => {
        const r = await body(fresh, '/readyz');
        return r.status === 503 && r.text.startsWith('resync timed out without a teacher') ? r.text : undefined;
      }, 15_000, 100);
      t.diagnostic(`/readyz: ${refused}`);
      for (const o of old) assert.ok(refused.includes(`${o.name} (UNKN: it does not declare this replica)`), `the reason names ${o.name}`);
      assert.match(fresh.log(), /ended its table resync without a teacher while ready replicas exist/);
      // Released, the old replicas reload with the newcomer declared and dial it themselves: the mesh closes…
      for (const p of paused.splice(0)) process.kill(p.syncer.pid, 'SIGCONT');
      await lab.waitConverged(old.length + 1);
      // …but nobody teaches it any more: it never claims readiness with an untaught table.
      await waitFor('/readyz without the refusals', async () => ((await body(fresh, '/readyz')).text === 'resync timed out without a teacher' ? true : undefined), 5000, 50);
      for (let i = 0; i < 10; i++) {
        const r = await body(fresh, '/readyz');
        assert.deepEqual([r.status, r.text], [503, 'resync timed out without a teacher']);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      assert.equal((await hap.showTable()).has('learned'), false);
    });
  });
}
