import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isEstablished, parseShowPeers, taughtVerdict } from './show-peers.ts';
import type { Peer } from './peers.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const peer = (name: string, ready: boolean): Peer => ({ name, host: '127.0.3.1', port: 10000, ready });

test('parses the 2.6 format: section flags, local and remote peers, link state', () => {
  const [s] = parseShowPeers(fixture('show-peers-2.6-taught.txt'));
  assert.ok(s);
  assert.equal(s.name, 'haproxy-peers');
  assert.equal(s.flags, 0x2213);
  assert.deepEqual(s.peers.map((p) => [p.name, p.local, p.lastStatus, p.state]), [
    ['p2', true, 'NONE', undefined], ['p1', false, 'ESTA', 'EST'], ['p3', false, 'UNKN', undefined]]);
  assert.deepEqual([s.peers[2]?.host, s.peers[2]?.port], ['::1', 10002]);
  assert.deepEqual(s.peers.filter(isEstablished).map((p) => p.name), ['p1']);
});

test('tolerates the 3.x format (extra fields between the known ones)', () => {
  const [s] = parseShowPeers(fixture('show-peers-3.x.txt'));
  assert.equal(s?.peers[0]?.lastStatus, 'ESTA');
  assert.equal(s?.peers[0]?.host, '10.0.0.2');
  assert.equal(s?.peers[1]?.local, true);
});

test('taught: remote finished and the ready replicas\' links established', () => {
  const [s] = parseShowPeers(fixture('show-peers-2.6-taught.txt'));
  assert.equal(taughtVerdict(s, [peer('p1', true)]).taught, true);
  // p3 is Ready but refused us (UNKN): not taught until that link is up.
  assert.match(taughtVerdict(s, [peer('p1', true), peer('p3', true)]).reason, /not established: p3/);
  // p3 still starting (not Ready): it holds nothing that served traffic.
  assert.equal(taughtVerdict(s, [peer('p1', true), peer('p3', false)]).taught, true);
});

test('a timed-out resync (0x20) is not taught while a ready replica is reachable', () => {
  const [s] = parseShowPeers(fixture('show-peers-2.6-timeout.txt'));
  assert.equal(s?.flags, 0x33);
  const v = taughtVerdict(s, [peer('p2', true)]);
  assert.equal(v.taught, false);
  assert.match(v.reason, /timed out/);
});

test('a replica that started when no other was ready is taught once its resync is over and the links are up', () => {
  const [s] = parseShowPeers(fixture('show-peers-2.6-timeout.txt'));
  assert.equal(taughtVerdict(s, [peer('p2', true)], true).taught, true);
  assert.match(taughtVerdict(s, [peer('p2', true), peer('p9', true)], true).reason, /not established: p9/);
});

test('alone, or among replicas none of which is ready, a finished-or-timed-out resync is enough', () => {
  const [s] = parseShowPeers(fixture('show-peers-2.6-timeout.txt'));
  assert.equal(taughtVerdict(s, []).taught, true);
  assert.equal(taughtVerdict(s, [peer('p2', false)]).taught, true);
  assert.equal(taughtVerdict({ name: 'haproxy-peers', flags: 0x11, peers: [] }, [peer('p2', false)]).taught, false);
  assert.equal(taughtVerdict(undefined, []).taught, false);
});
