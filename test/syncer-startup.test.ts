// Start-up order and readiness, end to end: the syncer (a native sidecar) starts before HAProxy; a new
// replica is refused (UNKN) by replicas that have not declared it yet and still converges and is taught.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLab, type Lab, type LabPod } from './harness/haproxy-lab.ts';
import { waitFor } from './harness/haproxy.ts';

let lab: Lab;
const paused: LabPod[] = [];
before(async () => { lab = await startLab({ replicas: 2, deferHaproxy: true }); });
after(async () => {
  for (const p of paused) try { process.kill(p.syncer.pid, 'SIGCONT'); } catch { /* gone */ }
  await lab?.stop();
});

const status = (p: LabPod, code: number) => waitFor(`${p.name} /readyz ${code}`, async () => ((await p.readyz()) === code ? true : undefined), 30_000);

test('syncers started before HAProxy write the first file, report 503, wait without crashing, then converge', async () => {
  const pods = await waitFor('2 pods with a syncer', () => (lab.pods.size === 2 ? [...lab.pods.values()] : undefined), 30_000);
  for (const p of pods) {
    await waitFor(`${p.name}'s peers file`, () => readFileSync(join(p.dir, 'peers.cfg'), 'utf8'), 20_000);
    await status(p, 503);
    await waitFor(`${p.name} waiting for HAProxy`, () => (p.log().includes('HAProxy master socket not answering yet') ? true : undefined));
    assert.match(await (await fetch(`http://${p.ip}:8585/readyz`)).text(), /waiting for HAProxy/);
  }
  // Neither is Ready: the start-up gate has no one to wait for.
  for (const p of pods) assert.equal(await waitFor(`${p.name} /startupz`, async () => ((await p.startupz()) === 200 ? 200 : undefined), 20_000), 200);
  for (const p of pods) await p.startHaproxy();
  await lab.waitConverged(2);
  for (const p of pods) {
    await status(p, 200);
    assert.ok(p.syncer.isRunning());
    assert.equal(p.log().split('\n').filter((l) => l.includes('"msg":"starting"')).length, 1, 'started once, never restarted');
    const metrics = await p.metrics();
    for (const m of ['hps_syncer_reconciles_total{result="success"}', 'hps_syncer_desired_peers 2', 'hps_syncer_applied_peers 2', 'hps_syncer_ready 1', 'hps_syncer_last_success_timestamp_seconds']) {
      assert.ok(metrics.includes(m), `metrics include ${m}`);
    }
  }
});

test('a replica refused as UNKN by peers that have not declared it yet is connected once they reload; never ready untaught', async () => {
  const old = [...lab.pods.values()];
  const [first] = old;
  assert.ok(first?.haproxy);
  await first.haproxy.setTable('learned', 9);
  // The old replicas must be Ready in the API (the kubelet probed their /readyz) before they freeze.
  await lab.waitReadyEndpoints(old.map((p) => p.name));
  // Freeze the old replicas' syncers: they cannot declare the newcomer until released.
  for (const p of old) { process.kill(p.syncer.pid, 'SIGSTOP'); paused.push(p); }
  await lab.scale(3);
  const fresh = await waitFor('the new pod', () => [...lab.pods.values()].find((p) => !old.includes(p)), 30_000);
  // Its first file already names the old replicas (they are in the slice), so its HAProxy dials them…
  await waitFor('the first file to list 3 peers', () => (readFileSync(join(fresh.dir, 'peers.cfg'), 'utf8').match(/^\s+peer /gm)?.length === 3 ? true : undefined), 20_000);
  // The start-up gate knows: /startupz stays 503 while the Ready replicas refuse its name.
  await waitFor('/startupz 503 naming the old replicas', async () => {
    const r = await fetch(`http://${fresh.ip}:8585/startupz`).catch(() => undefined);
    return r?.status === 503 && /not yet declared by/.test(await r.text()) ? true : undefined;
  }, 20_000);
  // Start HAProxy anyway (as a pod without the startup probe would) to reproduce the refusal.
  const hap = await fresh.startHaproxy();
  // …and is refused: they do not know its name yet. HAProxy does not retry after UNKN.
  await waitFor('UNKN from the old replicas', async () => {
    const s = await hap.showPeers();
    return s && old.every((o) => s.peers.find((x) => x.name === o.name)?.lastStatus === 'UNKN') ? true : undefined;
  }, 10_000, 20);
  assert.equal(await fresh.readyz(), 503);
  for (const p of paused.splice(0)) process.kill(p.syncer.pid, 'SIGCONT');
  // The old replicas reload with the newcomer declared and dial it themselves: the mesh closes.
  await lab.waitConverged(3);
  // Whether it was also taught depends on a race inside HAProxy (a just-reloaded worker may answer
  // "partial"; that is what the start-up gate prevents): either way it must never claim readiness
  // with an untaught table.
  const verdict = await waitFor('a settled readiness verdict', async () => {
    const r = await fetch(`http://${fresh.ip}:8585/readyz`);
    const body = await r.text();
    return r.status === 200 || /timed out without a teacher/.test(body) ? { status: r.status, body } : undefined;
  }, 20_000);
  if (verdict.status === 200) assert.ok((await hap.showTable()).has('learned'), 'ready implies taught');
  else assert.equal((await hap.showTable()).has('learned'), false);
});
