import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KNOWN_BRANCHES, describeSectionFlags, dialectFor, type HaproxyDialect } from './haproxy-version.ts';
import { parseShowProc } from './show-proc.ts';
import { parseShowPeers, taughtVerdict } from './show-peers.ts';
import type { Peer } from './peers.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const known = (v: string): HaproxyDialect => {
  const d = dialectFor(v);
  assert.ok(d.known, `${v} is known`);
  return d.dialect;
};

test('the versions of the real binaries (from their show proc) are known, with their own flag tables', () => {
  const v26 = parseShowProc(fixture('show-proc-2.6-ok.txt'))?.version;
  const v30 = parseShowProc(fixture('show-proc-3.0-ok.txt'))?.version;
  assert.equal(v26, '2.6.12-1+deb12u4');
  assert.match(v30 ?? '', /^3\.0\.11-1\+deb13u\d+$/);
  const d26 = known(v26 ?? '');
  const d30 = known(v30 ?? '');
  assert.deepEqual([d26.branch, d26.reload, d26.peerStates, d26.aloneResyncAtOnce], ['2.6', 'silent', false, false]);
  assert.deepEqual([d30.branch, d30.reload, d30.peerStates, d30.aloneResyncAtOnce], ['3.0', 'synchronous', true, true]);
  assert.equal(d30.version, v30);
  // Same "resync over" bits, every history bit renumbered.
  assert.deepEqual([d26.sectionFlags.remoteResyncDone, d30.sectionFlags.remoteResyncDone], [0x2, 0x2]);
  assert.deepEqual([d26.sectionFlags.remoteFinished, d30.sectionFlags.remoteFinished], [0x200, 0x0200_0000]);
  assert.deepEqual([d26.sectionFlags.localFinished, d30.sectionFlags.localFinished], [0x100, 0x0100_0000]);
  assert.deepEqual([d26.sectionFlags.remoteTimeout, d30.sectionFlags.remoteTimeout], [0x20, 0x0020_0000]);
  assert.deepEqual(KNOWN_BRANCHES, ['2.6', '3.0']);
});

test('any release of a known branch is known; other branches, dev snapshots and garbage are refused with a reason', () => {
  for (const v of ['2.6.0', '2.6.12', '3.0.0', '3.0.11-1+deb13u5', '3.0.12~bpo12+1'])
    assert.equal(dialectFor(v).known, true, v);
  for (const [v, why] of [
    ['2.8.5', /branch 2\.8/],
    ['3.2.4-1', /branch 3\.2/],
    ['3.0-dev12', /development snapshot of 3\.0/],
    ['3.1-dev4-abc', /development snapshot/],
    ['', /no version reported/],
    ['HAProxy', /unreadable/],
  ] as const) {
    const d = dialectFor(v);
    assert.equal(d.known, false, v);
    if (!d.known) {
      assert.match(d.reason, why);
      assert.match(d.reason, /not a version this syncer knows .*known: 2\.6, 3\.0.*stays un-Ready/);
    }
  }
});

test('a 3.0 replica taught by its peers is read as taught with 3.0\'s table, and as "resync in progress" with 2.6\'s', () => {
  const [s] = parseShowPeers(fixture('show-peers-3.0-joined.txt'));
  assert.equal(s?.flags, 0x22100003);
  const others: Peer[] = ['p2', 'p3'].map((name) => ({ name, host: '127.0.0.1', port: 13001, ready: true }));
  assert.equal(taughtVerdict(s, known('3.0.11'), others).taught, true);
  const wrong = taughtVerdict(s, known('2.6.12'), others);
  assert.equal(wrong.taught, false);
  assert.equal(wrong.kind, 'resync-in-progress');
});

test('section flags are named per version for logs', () => {
  const d30 = known('3.0.11');
  const d26 = known('2.6.12');
  assert.equal(
    describeSectionFlags(0x22100003, d30),
    'localResyncDone|remoteResyncDone|localTimeout|remoteFinished|remoteAssigned',
  );
  assert.equal(
    describeSectionFlags(0x2213, d26),
    'localResyncDone|remoteResyncDone|localTimeout|remoteFinished|remoteAssigned',
  );
  assert.equal(describeSectionFlags(0x1103, d26), 'localResyncDone|remoteResyncDone|localFinished|localAssigned');
  assert.equal(
    describeSectionFlags(0x6833, d26),
    'localResyncDone|remoteResyncDone|localTimeout|remoteTimeout|remotePartial|remoteAssigned|0x4000',
  );
  assert.equal(describeSectionFlags(0, d30), 'none');
});
