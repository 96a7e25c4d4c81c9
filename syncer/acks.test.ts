// Which of a worker's own writes its peers have not acknowledged, read from `show peers` as Debian's
// 2.6.12 and 3.0.11 print it. Fixtures captured from two real HAProxy processes (p1, p2; table b): three
// writes on p1 acknowledged by p2 (`writes-acked`); p2 stopped, two more writes on p1 (`writes-unacked`);
// p2 started again, p1 pushes the two from where p2 acknowledged (`writes-reacked`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseShowPeers, type SectionStatus } from './show-peers.ts';
import { ownWritesTarget, unackedWrites } from './acks.ts';
import { waitForAcks } from './direct.ts';

const section = (name: string): SectionStatus => {
  const [s] = parseShowPeers(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
  assert.ok(s, name);
  return s;
};
const both = new Set(['p1', 'p2']);

for (const v of ['2.6', '3.0']) {
  test(`${v}: each shared table of a peer is read with what the peer acknowledged and the last own write`, () => {
    const p2 = section(`show-peers-${v}-writes-unacked.txt`).peers.find((p) => p.name === 'p2');
    assert.deepEqual(p2?.tables, [{ id: 'b', acked: 3, localUpdate: 5 }]);
  });

  test(`${v}: a peer that went away with two writes unacknowledged is waited for until its return acknowledges them`, () => {
    const before = section(`show-peers-${v}-writes-unacked.txt`);
    const target = ownWritesTarget(before);
    assert.deepEqual(unackedWrites(before, both, target), [{ peer: 'p2', table: 'b', writes: 2 }]);
    assert.deepEqual(unackedWrites(section(`show-peers-${v}-writes-reacked.txt`), both, target), []);
  });

  test(`${v}: nothing to wait for when every write was acknowledged, or for a peer the reload removes`, () => {
    const acked = section(`show-peers-${v}-writes-acked.txt`);
    assert.deepEqual(unackedWrites(acked, both, ownWritesTarget(acked)), []);
    const unacked = section(`show-peers-${v}-writes-unacked.txt`);
    assert.deepEqual(unackedWrites(unacked, new Set(['p1']), ownWritesTarget(unacked)), []);
  });

  test(`${v}: writes made after the reload was decided are not waited for`, () => {
    // The target is what was written when the wait began: p2 acknowledged 3, so a target of 3 is met.
    const unacked = section(`show-peers-${v}-writes-unacked.txt`);
    assert.deepEqual(unackedWrites(unacked, both, new Map([['b', 3]])), []);
  });
}

test('a peer that never held a session with this worker (a replica still starting) is not waited for', () => {
  const joined = section('show-peers-2.6-reloaded.txt');
  // Every table of that capture is at 0: make the dialled peer's table lack writes (it never was ESTA).
  const never = joined.peers.find((p) => p.lastStatus !== 'ESTA' && !p.local);
  assert.ok(never, 'the capture has a peer that never connected');
  const lacking: SectionStatus = {
    ...joined,
    peers: joined.peers.map((p) =>
      p === never ? { ...p, tables: [{ id: 'st', acked: 0, localUpdate: 9 }] } : { ...p, tables: [] },
    ),
  };
  assert.deepEqual(unackedWrites(lacking, new Set(joined.peers.map((p) => p.name)), new Map([['st', 9]])), []);
});

test("HAProxy's 32-bit counters: an acknowledgement past a wrapped target counts as done, a target past a wrapped acknowledgement does not", () => {
  const peer = (acked: number, localUpdate: number): SectionStatus => ({
    name: 's',
    flags: 0,
    peers: [
      {
        name: 'x',
        local: false,
        active: true,
        host: '10.0.0.1',
        port: 10000,
        lastStatus: 'ESTA',
        state: 'EST',
        tables: [{ id: 't', acked, localUpdate }],
      },
    ],
  });
  const keep = new Set(['x']);
  assert.deepEqual(unackedWrites(peer(2, 2), keep, new Map([['t', 0xfffffffe]])), []);
  assert.deepEqual(unackedWrites(peer(0xfffffffe, 2), keep, new Map([['t', 2]])), [
    { peer: 'x', table: 't', writes: 4 },
  ]);
});

test('waitForAcks reads show peers until the peer that was away acknowledged, and reports nothing lost', async () => {
  const reads = [section('show-peers-2.6-writes-unacked.txt'), section('show-peers-2.6-writes-reacked.txt')];
  const live = section('show-peers-2.6-writes-unacked.txt');
  const peers = [...both].map((name) => ({ name, host: '127.0.0.1', port: 14000 }));
  const r = await waitForAcks(async () => reads.shift(), live, peers, 5000);
  assert.deepEqual(r.unacked, []);
  assert.ok(r.waitedMs > 0);
  assert.equal(reads.length, 0, 'read until acknowledged');
});

test('waitForAcks gives up after its bound and names what each peer still lacks; no wait when nothing is owed', async () => {
  const unacked = section('show-peers-3.0-writes-unacked.txt');
  const peers = [...both].map((name) => ({ name, host: '127.0.0.1', port: 14000 }));
  const r = await waitForAcks(async () => unacked, unacked, peers, 60);
  assert.deepEqual(r.unacked, [{ peer: 'p2', table: 'b', writes: 2 }]);
  const acked = section('show-peers-3.0-writes-acked.txt');
  let calls = 0;
  const none = await waitForAcks(
    async () => {
      calls++;
      return acked;
    },
    acked,
    peers,
  );
  assert.deepEqual([none.waitedMs, none.unacked, calls], [0, [], 0]);
});
