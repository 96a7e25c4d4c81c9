// Three real HAProxy processes sharing a peers section replicate a stick-table entry (issue 2), and a
// reload keeps the table — on every supported HAProxy version (issue 9).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { HAPROXY_VERSIONS, startCluster, waitFor, type HaproxyReplica } from './harness/haproxy.ts';
import { isEstablished } from '../syncer/show-peers.ts';
import { dialectFor, describeSectionFlags } from '../syncer/haproxy-version.ts';

for (const [v, version] of HAPROXY_VERSIONS.entries()) {
  describe(`HAProxy ${version}`, () => {
    // 127.0.2.x keeps clear of other tests' addresses; a random base avoids clashing with a parallel run.
    const base = 10 + Math.floor(Math.random() * 60) + 80 * v;
    let replicas: HaproxyReplica[] = [];
    after(async () => {
      await Promise.all(replicas.map((r) => r.stop()));
    });

    test('an entry written on one replica with "set table" is readable on the other two', async (t) => {
      replicas = await startCluster(
        [0, 1, 2].map((i) => ({ name: `hap-${i}`, ip: `127.0.2.${base + i}` })),
        undefined,
        version,
      );
      t.diagnostic(`binary reports ${replicas[0]?.fullVersion}`);
      for (const r of replicas) {
        await waitFor(`${r.name} to have both links established`, async () => {
          const s = await r.showPeers();
          return s && s.peers.filter(isEstablished).length === 2 ? true : undefined;
        });
      }
      const [first, ...others] = replicas;
      assert.ok(first);
      assert.match(first.fullVersion, version === '2.6' ? /^2\.6\./ : /^3\.0\./);
      await first.setTable('user-42', 7);
      for (const r of others) {
        const row = await waitFor(`user-42 on ${r.name}`, async () => (await r.showTable()).get('user-42'));
        assert.match(row, /gpc0=7/);
      }
      assert.equal(await first.reloadCount(), 0);
    });

    test('a reload once the resync is over keeps the table: the new worker is taught by the old one', async (t) => {
      const [first] = replicas;
      assert.ok(first);
      const d = dialectFor(first.fullVersion);
      assert.ok(d.known);
      const F = d.dialect.sectionFlags;
      // Started together, the three end their first resync by the 5 s timeout (both versions).
      await waitFor(
        `${first.name}'s resync over`,
        async () => {
          const s = await first.showPeers();
          return s && (s.flags & (F.localResyncDone | F.remoteResyncDone)) === (F.localResyncDone | F.remoteResyncDone)
            ? true
            : undefined;
        },
        15_000,
        100,
      );
      const answer = await first.masterCli('reload');
      if (d.dialect.reload === 'synchronous') assert.match(answer, /^Success=1\n--\n[\s\S]*Loading success/);
      else assert.equal(answer, '');
      await waitFor('the reload counted', async () => ((await first.reloadCount()) === 1 ? true : undefined), 10_000);
      const row = await waitFor(
        'user-42 on the new worker',
        async () => (await first.showTable()).get('user-42'),
        10_000,
      );
      assert.match(row, /gpc0=7/);
      const s = await first.showPeers();
      assert.ok(s);
      t.diagnostic(
        `new worker's section flags: 0x${s.flags.toString(16)} = ${describeSectionFlags(s.flags, d.dialect)}`,
      );
      assert.notEqual(s.flags & F.localFinished, 0, 'taught by the old worker');
    });
  });
}
