/**
 * Faults of the node and the network, on the real node, with the example of examples/ (webhook from
 * deploy/): a replica's peer traffic cut and healed, the kubelet and containerd restarted under the
 * workload, a webhook replica killed during a scale-out. Each runs under a stream of stick-table writes
 * on several replicas, and ends with every entry written on every live replica. The closing numbers
 * (entries written, found everywhere, time to converge) are t.diagnostic() lines.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { waitFor } from './harness/processes.ts';
import { EXAMPLE_TABLE, sandboxForTests } from './harness/sandbox.ts';
import { NS, SYNCER, bringUpExample, peerProblems, restartedContainers, waitConverged } from './harness/e2e-example.ts';
import { DEFAULT_TABLE } from './harness/haproxy.ts';
import { startWorkload } from './harness/workload.ts';
import {
  closingLine,
  cutPeerTraffic,
  keepPodLogs,
  lossByWriter,
  replicaTable,
  startWrites,
  waitEveryEntryEverywhere,
  waitGone,
  webhookProcesses,
  WEBHOOK_NAMESPACE,
  type ReplicaTable,
} from './harness/faults.ts';

describe('faults of the node and the network', () => {
  const sb = sandboxForTests({ onStart: (s) => bringUpExample(s) });

  const exampleTables = async (pods: readonly string[]): Promise<ReplicaTable[]> =>
    Promise.all(pods.map((p) => replicaTable(sb(), NS, p, EXAMPLE_TABLE)));

  test("one replica's peer traffic cut for 30 s while both sides write: once healed, every entry is on every replica", async (t) => {
    const live = await waitConverged(sb(), 3, 'before the cut');
    const tables = await exampleTables(live.map((r) => r.pod));
    const [victim, other] = tables;
    assert.ok(victim !== undefined && other !== undefined);
    const pid = await sb().containerPid(NS, victim.pod, 'haproxy');
    assert.ok(pid !== undefined, `${victim.pod}: HAProxy runs`);

    const writes = startWrites(tables, 'cut');
    t.after(() => writes.stop());
    await sleep(2000);
    const heal = await cutPeerTraffic(pid);
    let healedAt: number;
    try {
      // The cut is real: an entry written on the victim does not reach the others.
      await victim.set(['cut-marker']);
      await sleep(10_000);
      assert.equal(
        (await other.keys()).has('cut-marker'),
        false,
        `${other.pod} learned an entry from ${victim.pod} across the cut`,
      );
      await sleep(20_000);
    } finally {
      await heal();
      healedAt = Date.now();
    }
    const w = await writes.stop();
    const c = await waitEveryEntryEverywhere(tables, [...w.written, 'cut-marker'], 'after the cut healed', {
      since: healedAt,
    });
    t.diagnostic(closingLine('peer traffic cut 30 s', w, c));
    const again = await waitConverged(sb(), 3, 'after the cut healed');
    assert.deepEqual(again.map((r) => r.pod).sort(), live.map((r) => r.pod).sort(), 'the same 3 replicas');
    assert.deepEqual(await peerProblems(sb(), again), []);
  });

  test('the kubelet and containerd restarted under the workload: no pod replaced, no container restarted, every entry on every replica', async (t) => {
    const live = await waitConverged(sb(), 3, 'before the daemons restart');
    const restartedBefore = await restartedContainers(sb());
    const tables = await exampleTables(live.map((r) => r.pod));
    const writes = startWrites(tables, 'daemons');
    t.after(() => writes.stop());
    await sleep(2000);
    const began = Date.now();
    await sb().node.restartDaemons();
    const restartMs = Date.now() - began;
    // The workload keeps being written while the new kubelet takes over its pods.
    await sleep(10_000);
    const w = await writes.stop();
    const c = await waitEveryEntryEverywhere(tables, w.written, 'after the kubelet and containerd restart');
    t.diagnostic(
      `kubelet and containerd stopped and started again in ${(restartMs / 1000).toFixed(1)} s (until the new kubelet renewed the node's Lease)`,
    );
    t.diagnostic(closingLine('kubelet + containerd restart', w, c));
    assert.equal(w.failedWrites, 0, 'HAProxy answered every write while the daemons restarted');
    const again = await waitConverged(sb(), 3, 'after the kubelet and containerd restart');
    assert.deepEqual(again.map((r) => r.pod).sort(), live.map((r) => r.pod).sort(), 'the same 3 pods');
    assert.deepEqual(await restartedContainers(sb()), restartedBefore, 'containers restarted by the new kubelet');
    assert.deepEqual(await peerProblems(sb(), again), []);
  });

  test('a webhook replica SIGKILLed during a 3 → 20 scale-out: every pod is still created, each one injected, all meshed', async (t) => {
    const w = await startWorkload(sb(), { replicas: 3, name: 'burst' });
    const core = sb().controlPlane.kubeConfig.makeApiClient(CoreV1Api);
    const first = await w.pods();
    // A user scales out a workload that is up: its 3 replicas Ready (taught), not only meshed. Three
    // replicas started together end their first resync by timeout, seconds after they mesh; a replica
    // not Ready yet is not waited for by a newcomer's start-up gate (README "Failure modes").
    const meshedFirst = Date.now();
    await w.waitReady(
      first.map((p) => p.name),
      120_000,
    );
    t.diagnostic(`the 3 replicas Ready ${((Date.now() - meshedFirst) / 1000).toFixed(1)} s after they meshed`);
    const tables = await Promise.all(first.map((p) => replicaTable(sb(), w.namespace, p.name, DEFAULT_TABLE)));
    const writes = startWrites(tables, 'burst');
    t.after(() => writes.stop());
    const [hook] = await webhookProcesses(sb());
    assert.ok(hook?.pid !== undefined, 'a webhook replica runs');
    const restartsBefore = (await sb().containerStatus(WEBHOOK_NAMESPACE, hook.pod, 'webhook'))?.restartCount ?? 0;

    const began = Date.now();
    await w.scale(20);
    // As soon as the ReplicaSet creates its first new pods (admitted one by one by the webhook).
    await waitFor(async () => (await core.listNamespacedPod({ namespace: w.namespace })).items.length > first.length, {
      what: 'the first new pod',
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    process.kill(hook.pid, 'SIGKILL');
    await waitGone(hook.pid, `${hook.pod}'s webhook process to die`);
    const pods = await w.waitConverged(20, 600_000);
    const meshedAt = Date.now();
    const scaleMs = meshedAt - began;
    const result = await writes.stop();

    const all = (await core.listNamespacedPod({ namespace: w.namespace })).items;
    const injected = (p: V1Pod): boolean => (p.spec?.initContainers ?? []).some((c) => c.name === SYNCER);
    assert.equal(all.length, 20, 'pods in the namespace');
    assert.deepEqual(
      all.filter((p) => !injected(p)).map((p) => p.metadata?.name),
      [],
      'pods created without the syncer',
    );
    const restartsAfter = (await sb().containerStatus(WEBHOOK_NAMESPACE, hook.pod, 'webhook'))?.restartCount ?? 0;
    assert.ok(restartsAfter > restartsBefore, `${hook.pod}: the killed webhook was restarted by the kubelet`);
    const refused = (
      await sb().kubectl('get', 'events', '-n', w.namespace, '--field-selector', 'reason=FailedCreate', '-o', 'name')
    )
      .split('\n')
      .filter(Boolean).length;

    t.diagnostic(
      `3 → 20 with ${hook.pod} killed: 20 pods injected and meshed in ${(scaleMs / 1000).toFixed(1)} s; ` +
        `${refused} FailedCreate event(s) (admission refused while the killed replica was still an endpoint; the ReplicaSet retried)`,
    );

    // Every replica reloads while entries are written. Each waits, before its reload, until the others
    // acknowledged its own writes (syncer/acks.ts); a newcomer starts HAProxy only once every Ready
    // replica declares it (syncer/startup.ts), so what a writer took before declaring it reaches it in its
    // lesson. On a failure the message says which replica lacks whose keys, written when, and where the
    // syncers' logs were kept.
    await t.test('every entry written during the burst is on every replica', async (sub) => {
      const everyone = await Promise.all(pods.map((p) => replicaTable(sb(), w.namespace, p.name, DEFAULT_TABLE)));
      const c = await waitEveryEntryEverywhere(everyone, result.written, 'after the scale-out', {
        since: meshedAt,
      }).catch(async (err: unknown) => {
        const peers = await Promise.all(
          first.map(
            async (p) =>
              `${p.name} (writer): ${(await p.masterCli('@1 show peers').catch(() => ''))
                .split('\n')
                .filter((l) => /^\s+0x/.test(l))
                .map((l) => l.trim().replace(/\s+/g, ' ').slice(0, 160))
                .join('\n  ')}`,
          ),
        );
        const losses = await lossByWriter(everyone, result);
        const logs = await keepPodLogs(
          sb(),
          w.namespace,
          pods.map((p) => p.name),
        );
        throw new Error(
          `${(err as Error).message}\nwriters: ${first.map((p, i) => `${i}=${p.name}`).join(' ')}\n` +
            `${losses.join('\n')}\n${peers.join('\n')}\nsyncer logs kept in ${logs}`,
          { cause: err },
        );
      });
      sub.diagnostic(closingLine('webhook replica killed during 3 → 20', result, c));
    });
    await w.delete();
  });
});
