import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  diffPeers,
  formatAddress,
  isEmptyDiff,
  parsePeersFile,
  renderPeersFile,
  splitAddress,
  type Peer,
} from './peers.ts';

const a: Peer = { name: 'web-a', host: '10.0.0.1', port: 10000 };
const b: Peer = { name: 'web-b', host: '10.0.0.2', port: 10000 };
const c6: Peer = { name: 'web-c', host: 'fd00::3', port: 10000 };

test('IPv6 addresses are bracketed, IPv4 not', () => {
  assert.equal(formatAddress('10.0.0.1', 10000), '10.0.0.1:10000');
  assert.equal(formatAddress('fd00::3', 10000), '[fd00::3]:10000');
});

test("splitAddress reads the bracketed form and show peers' bare form", () => {
  assert.deepEqual(splitAddress('[fd00::3]:10000'), { host: 'fd00::3', port: 10000 });
  assert.deepEqual(splitAddress('::1:10002'), { host: '::1', port: 10002 });
  assert.deepEqual(splitAddress('ipv6@::1:10002'), { host: '::1', port: 10002 });
  assert.deepEqual(splitAddress('127.0.0.1:10000'), { host: '127.0.0.1', port: 10000 });
  assert.equal(splitAddress('nonsense'), undefined);
});

test('render then parse gives the same peers, sorted, whatever the input order', () => {
  const text = renderPeersFile({
    localPeer: 'web-b',
    adminSocket: '/run/x/admin.sock',
    section: 'haproxy-peers',
    peers: [c6, b, a],
  });
  assert.equal(
    text,
    `# Written by haproxy-peer-sync: rewritten whenever the replica set changes. Do not edit.
global
    localpeer web-b
    stats socket /run/x/admin.sock mode 600 level admin

peers haproxy-peers
    peer web-a 10.0.0.1:10000
    peer web-b 10.0.0.2:10000
    peer web-c [fd00::3]:10000
`,
  );
  const parsed = parsePeersFile(text);
  assert.equal(parsed.localPeer, 'web-b');
  assert.equal(parsed.section, 'haproxy-peers');
  assert.equal(parsed.adminSocket, '/run/x/admin.sock');
  assert.deepEqual(parsed.peers, [a, b, c6]);
  assert.equal(
    renderPeersFile({
      localPeer: 'web-b',
      adminSocket: '/run/x/admin.sock',
      section: 'haproxy-peers',
      peers: parsed.peers,
    }),
    text,
  );
});

test('parse ignores other sections and comments', () => {
  const parsed = parsePeersFile(
    'global\n    localpeer x\nbackend b\n    peer y 1.2.3.4:1\npeers s\n    peer x 1.1.1.1:5 # me\n',
  );
  assert.deepEqual(parsed.peers, [{ name: 'x', host: '1.1.1.1', port: 5 }]);
});

test('diff finds added, removed and moved peers and never removes the local one', () => {
  const moved = { ...b, host: '10.0.0.9' };
  const d = diffPeers([a, b, c6], [moved], 'web-a');
  assert.deepEqual(d.added, []);
  assert.deepEqual(d.changed, [moved]);
  assert.deepEqual(d.removed, [c6]);
  assert.ok(isEmptyDiff(diffPeers([a, b], [b, a], 'web-a')));
  assert.deepEqual(diffPeers([], [a], 'web-a').added, [a]);
});
