// Three real HAProxy processes sharing a peers section replicate a stick-table entry (issue 2).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, waitFor, type HaproxyReplica } from './harness/haproxy.ts';
import { isEstablished } from '../syncer/show-peers.ts';

// 127.0.2.x keeps clear of the kubelet stand-in's 127.0.0.x pod addresses; a random base avoids
// clashing with a parallel run of the same test.
const base = 10 + Math.floor(Math.random() * 200);
let replicas: HaproxyReplica[] = [];
after(async () => { await Promise.all(replicas.map((r) => r.stop())); });

test('an entry written on one replica with "set table" is readable on the other two', async () => {
  replicas = await startCluster([0, 1, 2].map((i) => ({ name: `hap-${i}`, ip: `127.0.2.${base + i}` })));
  for (const r of replicas) {
    await waitFor(`${r.name} to have both links established`, async () => {
      const s = await r.showPeers();
      return s && s.peers.filter(isEstablished).length === 2 ? true : undefined;
    });
  }
  const [first, ...others] = replicas;
  assert.ok(first);
  await first.setTable('user-42', 7);
  for (const r of others) {
    const row = await waitFor(`user-42 on ${r.name}`, async () => (await r.showTable()).get('user-42'));
    assert.match(row, /gpc0=7/);
  }
  assert.equal(await first.reloadCount(), 0);
});
