/**
 * Faults of the control plane, on the real node, with the example of examples/ (webhook from deploy/):
 * a syncer frozen while etcd is compacted and the apiserver restarts (what it saw is gone: 410 Gone), the
 * apiserver down for 60 s, the webhook's serving certificate rotated under admission load. Each runs under
 * a stream of stick-table writes on several replicas, and ends with every entry written on every live
 * replica. The closing numbers
 * (entries written, found everywhere, time to converge) are t.diagnostic() lines.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, type V1Pod } from '@kubernetes/client-node';
import { certificateInfo, generateServingCert, splitPemBundle } from '../certs/generate.ts';
import { SECRET_KEYS } from '../certs/secret-source.ts';
import { isEstablished, parseShowPeers } from '../syncer/show-peers.ts';
import { waitFor } from './harness/processes.ts';
import { EXAMPLE_TABLE, sandboxForTests } from './harness/sandbox.ts';
import { NS, SYNCER, bringUpExample, peerProblems, waitConverged } from './harness/e2e-example.ts';
import {
  closingLine,
  replicaTable,
  startWrites,
  waitEveryEntryEverywhere,
  webhookProcesses,
  WEBHOOK_NAMESPACE,
  type ReplicaTable,
} from './harness/faults.ts';

describe('faults of the control plane', () => {
  const sb = sandboxForTests({ onStart: (s) => bringUpExample(s) });

  const exampleTables = async (pods: readonly string[]): Promise<ReplicaTable[]> =>
    Promise.all(pods.map((p) => replicaTable(sb(), NS, p, EXAMPLE_TABLE)));
  const syncerLog = (pod: string): Promise<string> => sb().kubectl('logs', '-n', NS, pod, '-c', SYNCER);
  const lines = (log: string, msg: string): string[] => log.split('\n').filter((l) => l.includes(`"msg":"${msg}"`));
  const syncerRestarts = async (pod: string): Promise<number> =>
    (await sb().containerStatus(NS, pod, SYNCER))?.restartCount ?? 0;

  test('a syncer frozen across an etcd compaction and an apiserver restart (its resourceVersion gone: 410 Gone) relists and misses no change: it follows the scale-out it slept through', async (t) => {
    const live = await waitConverged(sb(), 3, 'before the compaction');
    const tables = await exampleTables(live.map((r) => r.pod));
    const victim = live[0]?.pod ?? '';
    const pid = await sb().containerPid(NS, victim, SYNCER);
    assert.ok(pid !== undefined, `${victim}: syncer pid`);
    const restarts = await syncerRestarts(victim);
    const listsBefore = lines(await syncerLog(victim), 'listed EndpointSlices').length;
    const discovery = sb().controlPlane.kubeConfig.makeApiClient(DiscoveryV1Api);
    const slices = (): Promise<{ items: { endpoints?: unknown[] }[]; metadata?: { resourceVersion?: string } }> =>
      discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=haproxy' });
    // At most what the victim's watch has seen: it is frozen right after.
    const seen = (await slices()).metadata?.resourceVersion ?? '';
    const writes = startWrites(tables, 'compact');
    t.after(() => writes.stop());
    await sleep(2000);

    // A change it must not miss: a fourth replica in the Service's EndpointSlice, seconds away (the pod
    // needs an address)…
    await sb().kubectl('scale', 'deployment/haproxy', '--replicas=4');
    // …and the victim's syncer frozen now, its watch open at the last resourceVersion it saw. Kept short of
    // the liveness probe's 3 × 10 s: only the watch may be what brings it back, not a restart.
    process.kill(pid, 'SIGSTOP');
    const frozenAt = Date.now();
    let revision: number;
    let resumedAt: number;
    try {
      await waitFor(async () => (await slices()).items.flatMap((s) => s.endpoints ?? []).length === 4, {
        what: 'the EndpointSlice to list 4 pods',
        timeoutMs: 15_000,
        intervalMs: 100,
      });
      // etcd forgets every revision before now, and the apiserver restarts (closing the frozen watch): its
      // new watch cache starts after the compaction, so the frozen syncer's resourceVersion is gone everywhere.
      revision = await sb().controlPlane.compactEtcd();
      await sb().controlPlane.restartApiserver();
      // The fault is in place once a watch from what the victim saw is refused as expired (the new
      // apiserver answers 429 while its watch cache is still filling).
      await waitFor(
        async () =>
          expired(
            await sb()
              .kubectl(
                'get',
                '--raw',
                `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?watch=true&timeoutSeconds=1&resourceVersion=${seen}`,
              )
              .catch((e: unknown) => String(e)),
          ),
        { what: `a watch from resourceVersion ${seen} to get 410 Gone`, timeoutMs: 15_000, intervalMs: 250 },
      );
    } finally {
      process.kill(pid, 'SIGCONT');
      resumedAt = Date.now();
    }
    let lastLog = '';
    const log = await waitFor(
      async () => {
        lastLog = await syncerLog(victim);
        return lines(lastLog, 'listed EndpointSlices').length > listsBefore ? lastLog : undefined;
      },
      { what: `${victim}'s syncer to list the EndpointSlices again`, timeoutMs: 30_000, intervalMs: 250 },
    ).catch((err: unknown) => {
      throw new Error(
        `${(err as Error).message}; its log ends:\n${lastLog.trimEnd().split('\n').slice(-15).join('\n')}`,
        { cause: err },
      );
    });
    const after4 = await waitConverged(sb(), 4, 'the scale-out the frozen syncer missed');
    const w = await writes.stop();
    assert.equal(
      await syncerRestarts(victim),
      restarts,
      `${victim}: its syncer was not restarted (the relist, not a restart, caught up)`,
    );
    // Which way it came to relist: its resumed watch answered 410 Gone, or failed before an answer (a
    // keep-alive socket the old apiserver closed while it was frozen: "socket hang up").
    const why =
      lines(log, 'watch expired (410 Gone): relisting').length > 0
        ? 'its resumed watch got 410 Gone'
        : `its resumed watch failed first (${/"message":"[^"]*: ([^":]*)"/.exec(lines(log, 'EndpointSlice list/watch failed; retrying').at(-1) ?? '')?.[1] ?? '?'})`;
    assert.deepEqual(await peerProblems(sb(), after4), []);
    const c = await waitEveryEntryEverywhere(
      await exampleTables(after4.map((r) => r.pod)),
      w.written,
      'after the relist',
      { since: resumedAt },
    );
    t.diagnostic(
      `etcd compacted at revision ${revision}; ${victim}'s syncer frozen ${((resumedAt - frozenAt) / 1000).toFixed(1)} s across the scale-out, ` +
        `the compaction and an apiserver restart (a watch from what it had seen: 410 Gone); ${why}; it relisted without a restart`,
    );
    t.diagnostic(closingLine('etcd compaction (410 Gone)', w, c));
  });

  test('the apiserver stopped for 60 s: HAProxy keeps serving and replicating with its last known peers, and the syncers follow a scale-in once it returns', async (t) => {
    const live = await waitConverged(sb(), 4, 'before the outage');
    const names = live.map((r) => r.pod);
    const tables = await exampleTables(names);
    const ips = live.map((r) => r.ip);
    const writes = startWrites(tables, 'outage');
    t.after(() => writes.stop());
    let downAt: number | undefined;
    const outage = sb().controlPlane.restartApiserver({
      downMs: 60_000,
      onDown: () => {
        downAt = Date.now();
      },
    });
    outage.catch(() => {}); // awaited below; a rejection must not go unhandled meanwhile
    await waitFor(() => downAt !== undefined, { what: 'the apiserver to stop', timeoutMs: 30_000 });

    // While it is down, every 5 s: each replica still lists the others, linked, and answers HTTP.
    let samples = 0;
    let served = 0;
    const problems: string[] = [];
    let marker = false;
    while (Date.now() - (downAt ?? 0) < 55_000) {
      samples++;
      for (const table of tables) {
        const section = parseShowPeers(await table.cli('@1 show peers'))[0];
        const remotes = section?.peers.filter((p) => !p.local) ?? [];
        const ok =
          remotes.length === names.length - 1 && remotes.every((p) => names.includes(p.name) && isEstablished(p));
        if (!ok)
          problems.push(`${table.pod}: ${remotes.map((p) => `${p.name} ${p.lastStatus}`).join(', ') || 'no peers'}`);
      }
      for (const [i, ip] of ips.entries()) {
        const res = await fetch(`http://${ip}:8080/`, {
          headers: { 'x-session-id': `outage-http-${samples}-${i}` },
          signal: AbortSignal.timeout(5000),
        }).catch((err: unknown) => ({ status: (err as Error).message }));
        if (res.status === 200) served++;
        else problems.push(`${names[i]}: GET answered ${res.status}`);
      }
      if (!marker && Date.now() - (downAt ?? 0) > 20_000) {
        // Replication itself needs no apiserver: an entry written now reaches every replica now.
        await tables[0]?.set(['outage-marker']);
        await waitEveryEntryEverywhere(tables, ['outage-marker'], 'an entry written with the apiserver down', {
          timeoutMs: 10_000,
        });
        marker = true;
      }
      await sleep(5000);
    }
    await outage;
    const backAt = Date.now();
    assert.deepEqual(problems, [], 'peers and HTTP while the apiserver was down');
    assert.ok(marker, 'an entry written during the outage was checked');

    const w = await writes.stop();
    const c = await waitEveryEntryEverywhere(tables, [...w.written, 'outage-marker'], 'after the outage', {
      since: backAt,
    });
    const again = await waitConverged(sb(), 4, 'after the apiserver returned');
    assert.deepEqual(again.map((r) => r.pod).sort(), [...names].sort(), 'the same 4 replicas');
    // The syncers watch again: they follow a scale-in, and the survivors keep every entry. (The writes
    // stopped first: a replica takes entries until it exits, and those taken after its deletion, once
    // the survivors dropped it from their peers, reach no one.)
    await sb().kubectl('scale', 'deployment/haproxy', '--replicas=3');
    const after3 = await waitConverged(sb(), 3, 'the scale-in after the outage');
    assert.deepEqual(await peerProblems(sb(), after3), []);
    await waitEveryEntryEverywhere(
      await exampleTables(after3.map((r) => r.pod)),
      [...w.written, 'outage-marker'],
      'after the scale-in',
      { timeoutMs: 30_000 },
    );
    t.diagnostic(
      `apiserver down ${((backAt - (downAt ?? backAt)) / 1000).toFixed(1)} s: ${samples} samples, ${served} HTTP requests served by the replicas, ` +
        `all peers ESTA throughout; then 4 → 3 followed, ${((Date.now() - backAt) / 1000).toFixed(1)} s after its return`,
    );
    t.diagnostic(closingLine('apiserver down 60 s', w, c));
  });

  test("the webhook's serving certificate rotated under admission load: no admission fails and every pod admitted is injected", async (t) => {
    const live = await waitConverged(sb(), 3, 'before the rotation');
    const tables = await exampleTables(live.map((r) => r.pod));
    const writes = startWrites(tables, 'rotation');
    t.after(() => writes.stop());
    const core = sb().controlPlane.kubeConfig.makeApiClient(CoreV1Api);
    const apps = sb().controlPlane.kubeConfig.makeApiClient(AppsV1Api);
    const template = (await apps.readNamespacedDeployment({ name: 'haproxy', namespace: NS })).spec?.template;
    assert.ok(template?.spec !== undefined);

    // Admission load: clients creating the example's pod (dry run: admitted, mutated, validated, not stored).
    let stopping = false;
    let admitted = 0;
    const failures: string[] = [];
    const client = async (id: number): Promise<void> => {
      for (let n = 0; !stopping; n++) {
        const body: V1Pod = { metadata: { ...template.metadata, name: `rotation-${id}-${n}` }, spec: template.spec };
        try {
          const pod = await core.createNamespacedPod({ namespace: NS, body, dryRun: 'All' });
          if ((pod.spec?.initContainers ?? []).some((c) => c.name === SYNCER)) admitted++;
          else failures.push(`${body.metadata?.name}: admitted without the syncer`);
        } catch (err) {
          failures.push(
            `${new Date().toISOString()} ${body.metadata?.name}: ${(err as { body?: string }).body ?? (err as Error).message}`,
          );
        }
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(client));
    t.after(async () => {
      stopping = true;
      await load;
    });

    try {
      await sleep(3000);
      // A renewal, as a replica writes it when the certificate is due: a new serving pair under the same CA,
      // into the shared Secret; each replica adopts it at its next poll of the Secret (--cert-poll, 60 s).
      const secret = await core.readNamespacedSecret({
        namespace: WEBHOOK_NAMESPACE,
        name: 'haproxy-peer-sync-webhook-tls',
      });
      const data = (k: string): string => Buffer.from(secret.data?.[k] ?? '', 'base64').toString();
      const old = certificateInfo(data(SECRET_KEYS.cert));
      const ca = { certPem: splitPemBundle(data(SECRET_KEYS.ca))[0] ?? '', keyPem: data(SECRET_KEYS.caKey) };
      const renewed = generateServingCert({
        ca,
        hosts: [...old.dnsNames, ...old.ipAddresses],
        validityDays: 365,
        now: new Date(),
      });
      const b64 = (s: string): string => Buffer.from(s).toString('base64');
      await core.replaceNamespacedSecret({
        namespace: WEBHOOK_NAMESPACE,
        name: 'haproxy-peer-sync-webhook-tls',
        body: {
          ...secret,
          data: { ...secret.data, [SECRET_KEYS.cert]: b64(renewed.certPem), [SECRET_KEYS.key]: b64(renewed.keyPem) },
        },
      });
      const rotatedAt = Date.now();
      const serial = certificateInfo(renewed.certPem).serialNumber;
      const hooks = await webhookProcesses(sb());
      assert.equal(hooks.length, 2, 'two webhook replicas');
      const ipOf = async (pod: string): Promise<string> =>
        (await core.readNamespacedPod({ namespace: WEBHOOK_NAMESPACE, name: pod })).status?.podIP ?? '';
      for (const h of hooks) {
        const ip = await ipOf(h.pod);
        await waitFor(async () => (await servedSerial(ip, 8443)) === serial, {
          what: `${h.pod} to serve the renewed certificate`,
          timeoutMs: 150_000,
          intervalMs: 1000,
        });
      }
      t.diagnostic(
        `both webhook replicas served the renewed certificate ${((Date.now() - rotatedAt) / 1000).toFixed(1)} s after the Secret changed`,
      );
      await sleep(5000);
    } finally {
      stopping = true;
      await load;
    }
    const w = await writes.stop();
    t.diagnostic(`admission under rotation: ${admitted} pods admitted and injected, ${failures.length} failed`);
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} admissions failed`);
    assert.ok(admitted >= 100, `the load ran (${admitted} admissions)`);
    const c = await waitEveryEntryEverywhere(tables, w.written, 'after the rotation');
    t.diagnostic(closingLine('webhook certificate rotation', w, c));
  });
});

/** Whether a watch's answer (events, or kubectl's error) is 410 Gone: the resourceVersion is expired. */
function expired(answer: string): boolean {
  return /"code":\s*410\b|\(Expired\)|too old resource version/.test(answer);
}

/** The serial number (hex, upper case) of the certificate a TLS server presents. */
function servedSerial(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host, port, rejectUnauthorized: false, servername: 'haproxy-peer-sync-webhook.haproxy-peer-sync-system.svc' },
      () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.end();
        resolve(serial);
      },
    );
    socket.setTimeout(5000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.once('error', reject);
  });
}
