// `show peers` as the real binaries print it (fixtures captured from Debian's 2.6.12 and 3.0.11, peers on
// 127.0.0.x), read with each version's flag table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isEstablished, parseShowPeers, taughtVerdict, verdictReason, type SectionStatus } from './show-peers.ts';
import { dialectFor, type HaproxyDialect } from './haproxy-version.ts';
import type { Peer } from './peers.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const section = (name: string): SectionStatus => {
  const [s] = parseShowPeers(fixture(name));
  assert.ok(s, name);
  return s;
};
const peer = (name: string, ready: boolean): Peer => ({ name, host: '127.0.3.1', port: 10000, ready });
const dialect = (v: string): HaproxyDialect => {
  const d = dialectFor(v);
  assert.ok(d.known);
  return d.dialect;
};
/** The verdict with the sentence /readyz shows for it. */
const judge = (
  ...args: Parameters<typeof taughtVerdict>
): { taught: boolean; tableTaught: boolean; kind: string; reason: string } => {
  const v = taughtVerdict(...args);
  return { taught: v.taught, tableTaught: v.tableTaught, kind: v.kind, reason: verdictReason(v) };
};

test('a ready replica that refuses us (UNKN) keeps us un-Ready even though another taught us', () => {
  const s = section('show-peers-2.6-taught.txt');
  assert.deepEqual(judge(s, dialect('2.6.12'), [peer('p1', true), peer('p3', true)]), {
    taught: false,
    tableTaught: true,
    kind: 'links-down',
    reason: 'links not established: p3 (UNKN: it does not declare this replica)',
  });
  // p3 still starting (not Ready): it holds nothing that served traffic.
  assert.equal(taughtVerdict(s, dialect('2.6.12'), [peer('p1', true), peer('p3', false)]).taught, true);
});

test('parses the 2.6 format: section flags, local and remote peers, link state', () => {
  const s = section('show-peers-2.6-taught.txt');
  assert.equal(s.name, 'haproxy-peers');
  assert.equal(s.flags, 0x2213);
  assert.deepEqual(
    s.peers.map((p) => [p.name, p.local, p.lastStatus, p.state, p.appState]),
    [
      ['p2', true, 'NONE', undefined, undefined],
      ['p1', false, 'ESTA', 'EST', undefined],
      ['p3', false, 'UNKN', undefined, undefined],
    ],
  );
  assert.deepEqual([s.peers[2]?.host, s.peers[2]?.port], ['::1', 10002]);
  assert.deepEqual(
    s.peers.filter(isEstablished).map((p) => p.name),
    ['p1'],
  );
});

test('parses the 3.0 format: app_state= and learn_state= between the known fields; the header date is not read', () => {
  const s = section('show-peers-3.0-joined.txt');
  assert.equal(s.name, 'mypeers');
  assert.equal(s.flags, 0x22100003);
  assert.deepEqual(
    s.peers.map((p) => [p.name, p.local, p.active, p.lastStatus, p.appState, p.learnState, p.state]),
    [
      ['p4', true, false, 'NONE', 'STOPPED', 'NOTASSIGNED', undefined],
      ['p3', false, true, 'ESTA', 'RUNNING', 'NOTASSIGNED', 'EST'],
      ['p2', false, true, 'ESTA', 'RUNNING', 'NOTASSIGNED', 'EST'],
      ['p1', false, false, 'ESTA', 'STOPPED', 'NOTASSIGNED', undefined],
    ],
  ); // lost a connect collision a moment ago
  assert.deepEqual([s.peers[3]?.host, s.peers[3]?.port], ['127.0.0.1', 13001]);
  assert.deepEqual(
    s.peers.filter(isEstablished).map((p) => p.name),
    ['p3', 'p2'],
  );
});

test('a link is up only when active and ESTA (and, on 3.0, app_state=RUNNING); a dead peer shows inactive, then CONN', () => {
  // 3.0, just after a reload: p4 (just declared, not up yet) is dialled: (remote,active) but STOPPED and CONN.
  const r = section('show-peers-3.0-reloaded.txt');
  const p4 = r.peers.find((p) => p.name === 'p4');
  assert.deepEqual([p4?.active, p4?.lastStatus, p4?.appState, p4?.state], [true, 'CONN', 'STOPPED', 'TAR']);
  assert.equal(p4 && isEstablished(p4), false);
  const p2 = r.peers.find((p) => p.name === 'p2');
  assert.ok(p2 && isEstablished(p2));
  assert.equal(isEstablished({ ...p2, appState: 'STARTING' }), false);
  assert.equal(isEstablished({ ...p2, appState: 'STOPPING' }), false);
  // p3 killed 6 s earlier: the same reading in both versions.
  for (const f of ['show-peers-2.6-peer-down.txt', 'show-peers-3.0-peer-down.txt']) {
    const s = section(f);
    assert.deepEqual(
      s.peers
        .filter(isEstablished)
        .map((p) => p.name)
        .sort(),
      ['p2', 'p4'],
      f,
    );
    assert.equal(s.peers.find((p) => p.name === 'p3')?.lastStatus, 'CONN', f);
  }
});

// The same cases, captured on each version: the verdicts must agree.
const cases = [
  {
    v: '2.6.12-1+deb12u4',
    joined: ['show-peers-2.6-joined.txt', 0x2213],
    reloaded: ['show-peers-2.6-reloaded.txt', 0x1103],
    refused1: ['show-peers-2.6-refused-1s.txt', 0x11],
    refused7: ['show-peers-2.6-refused-7s.txt', 0x33],
    together: ['show-peers-2.6-started-together.txt', 0x68b3],
    alone: ['show-peers-2.6-started-alone.txt', 0x33],
    reloadedUntaught: ['show-peers-2.6-reloaded-untaught.txt', 0x1103],
  },
  {
    v: '3.0.11-1+deb13u4',
    joined: ['show-peers-3.0-joined.txt', 0x22100003],
    reloaded: ['show-peers-3.0-reloaded.txt', 0x11000003],
    refused1: ['show-peers-3.0-refused-1s.txt', 0x100001],
    refused7: ['show-peers-3.0-refused-7s.txt', 0x300003],
    together: ['show-peers-3.0-started-together.txt', 0x28b00003],
    alone: ['show-peers-3.0-started-alone.txt', 0x300003],
    reloadedUntaught: ['show-peers-3.0-reloaded-untaught.txt', 0x11000003],
  },
] as const;

for (const c of cases) {
  const d = dialect(c.v);
  const at = (f: readonly [string, number]): SectionStatus => {
    const s = section(f[0]);
    assert.equal(s.flags, f[1], f[0]);
    return s;
  };

  test(`${d.branch}: a fresh replica taught by a remote peer is taught once every ready replica's link is up`, () => {
    const s = at(c.joined);
    assert.deepEqual(judge(s, d, [peer('p1', false), peer('p2', true), peer('p3', true)]), {
      taught: true,
      tableTaught: true,
      kind: 'by-peer',
      reason: 'taught by a peer; links established',
    });
    // 3.0's p1 session was closed by a connect collision at that instant (inactive, ESTA): HAProxy redials
    // it by itself and pushes again what p1 has not acknowledged, so it counts.
    assert.equal(taughtVerdict(s, d, [peer('p1', true), peer('p2', true), peer('p3', true)]).taught, true);
  });

  test(`${d.branch}: the new worker taught by the old one after a reload is taught when the old one was`, () => {
    const s = at(c.reloaded);
    const taughtBefore = { predecessorTaught: true };
    // p4 was just declared and is still starting (not ready): its CONN does not matter.
    assert.deepEqual(judge(s, d, [peer('p2', true), peer('p3', true), peer('p4', false)], taughtBefore), {
      taught: true,
      tableTaught: true,
      kind: 'by-previous-worker',
      reason: 'taught by the previous worker, itself taught; links established',
    });
    assert.match(
      judge(s, d, [peer('p2', true), peer('p4', true)], taughtBefore).reason,
      /^links not established: p4 \(CONN: connecting\)$/,
    );
    // The same flags from an old worker that was never taught prove nothing.
    assert.equal(
      taughtVerdict(s, d, [peer('p2', true), peer('p3', true), peer('p4', false)], { predecessorTaught: false }).taught,
      false,
    );
    // A caller that did not see the reload (started after it) takes HAProxy at its word.
    assert.equal(taughtVerdict(s, d, [peer('p2', true), peer('p3', true), peer('p4', false)]).taught, true);
  });

  test(`${d.branch}: started before its peers were named, then reloaded: the old worker's "finished" lesson is empty`, () => {
    // Sidecar-mode regular: HAProxy started with the init container's file (the local peer alone), its
    // resync over at once with no one to ask; then the syncer wrote the whole set and reloaded.
    const first = at(c.alone);
    const ready = [peer('p1', true), peer('p2', true)];
    const firstVerdict = taughtVerdict(first, d, ready);
    assert.equal(
      firstVerdict.tableTaught,
      false,
      'the first worker had no one to learn from in its file, but ready replicas exist',
    );
    // The new worker: "taught by the old worker" (2.6 0x100, 3.0 0x01000000), refused (UNKN) by both ready replicas.
    const s = at(c.reloadedUntaught);
    assert.notEqual(s.flags & d.sectionFlags.localFinished, 0);
    assert.deepEqual(judge(s, d, ready, { predecessorTaught: firstVerdict.tableTaught }), {
      taught: false,
      tableTaught: false,
      kind: 'reload-passed-untaught',
      reason:
        'resync timed out without a teacher, then a reload passed the untaught table on; no link to ready replicas: ' +
        'p1 (UNKN: it does not declare this replica), p2 (UNKN: it does not declare this replica)',
    });
    // Once they declare it and dial it, the links are up — and it is still not taught: it asks no one any more.
    const linked = { ...s, peers: s.peers.map((p) => (p.local ? p : { ...p, lastStatus: 'ESTA', active: true })) };
    assert.deepEqual(judge(linked, d, ready, { predecessorTaught: false }), {
      taught: false,
      tableTaught: false,
      kind: 'reload-passed-untaught',
      reason: 'resync timed out without a teacher, then a reload passed the untaught table on',
    });
    // Had no replica been ready (all started together, or it was alone), the old worker's table was all there was.
    assert.equal(taughtVerdict(first, d, [peer('p1', false), peer('p2', false)]).tableTaught, true);
    assert.equal(taughtVerdict(first, d, ready, { noReadyOtherAtStart: true }).tableTaught, true);
    assert.equal(
      taughtVerdict(s, d, ready, { predecessorTaught: true }).taught,
      false,
      'taught, but the links are down',
    );
    assert.equal(taughtVerdict(linked, d, ready, { predecessorTaught: true }).taught, true);
  });

  test(`${d.branch}: refused (UNKN) by the ready replicas: un-Ready, and the reason names them, during and after the resync`, () => {
    const ready = [peer('p1', true), peer('p2', true)];
    assert.deepEqual(judge(at(c.refused1), d, ready), {
      taught: false,
      tableTaught: false,
      kind: 'resync-in-progress',
      reason:
        'resync in progress; no link to ready replicas: p1 (UNKN: it does not declare this replica), p2 (UNKN: it does not declare this replica)',
    });
    assert.deepEqual(judge(at(c.refused7), d, ready), {
      taught: false,
      tableTaught: false,
      kind: 'resync-timed-out',
      reason:
        'resync timed out without a teacher; no link to ready replicas: p1 (UNKN: it does not declare this replica), p2 (UNKN: it does not declare this replica)',
    });
    // A ready replica missing from the live section is named too.
    assert.match(judge(at(c.refused7), d, [peer('p9', true)]).reason, /p9 \(not in HAProxy's live section\)/);
  });

  test(`${d.branch}: replicas started together end their resync by the timeout; enough only when none was ready at start`, () => {
    const s = at(c.together);
    assert.deepEqual(judge(s, d, [peer('p1', true), peer('p3', true)]), {
      taught: false,
      tableTaught: false,
      kind: 'resync-timed-out',
      reason: 'resync timed out without a teacher',
    });
    assert.deepEqual(judge(s, d, [peer('p1', true), peer('p3', true)], { noReadyOtherAtStart: true }), {
      taught: true,
      tableTaught: true,
      kind: 'started-with-no-ready-other',
      reason: 'started with no ready replica; resync over; links established',
    });
    assert.equal(taughtVerdict(s, d, [peer('p1', false), peer('p3', false)]).taught, true);
  });

  test(`${d.branch}: alone, or among replicas none of which is ready, a finished-or-timed-out resync is enough`, () => {
    assert.deepEqual(judge(at(c.refused7), d, []), {
      taught: true,
      tableTaught: true,
      kind: 'alone',
      reason: 'no other replica to learn from',
    });
    assert.deepEqual(judge(at(c.refused7), d, [peer('p1', false)]), {
      taught: true,
      tableTaught: true,
      kind: 'no-ready-other',
      reason: 'no other replica is ready; resync over',
    });
    assert.deepEqual(judge(at(c.refused1), d, [peer('p1', false)]), {
      taught: false,
      tableTaught: false,
      kind: 'resync-unfinished',
      reason: 'waiting for the resync to finish',
    });
    assert.deepEqual(judge(undefined, d, []), {
      taught: false,
      tableTaught: false,
      kind: 'no-section',
      reason: 'peers section not loaded by HAProxy',
    });
  });
}

test('3.0: a process with no reachable peer is over at once or after 5 s; 2.6 fixtures keep their meaning', () => {
  const d30 = dialect('3.0.11');
  const s = section('show-peers-3.0-unreachable.txt');
  assert.equal(s.flags, 0x300003);
  assert.equal(taughtVerdict(s, d30, [peer('p9', false)]).taught, true);
  assert.match(
    judge(s, d30, [peer('p9', true)]).reason,
    /^resync timed out without a teacher; no link to ready replicas: p9 \(CONN: connecting\)$/,
  );
  const d26 = dialect('2.6.12');
  const t = section('show-peers-2.6-timeout.txt');
  assert.equal(taughtVerdict(t, d26, [peer('p2', true)]).taught, false);
  assert.equal(taughtVerdict(t, d26, [peer('p2', true)], { noReadyOtherAtStart: true }).taught, true);
  assert.match(
    judge(t, d26, [peer('p2', true), peer('p9', true)], { noReadyOtherAtStart: true }).reason,
    /not established: p9/,
  );
});
