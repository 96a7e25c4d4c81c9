import { test } from 'node:test';
import assert from 'node:assert/strict';
import { passwordFrom, peerAddress, renderPeersFile, renderUserlist } from './render.ts';

test('the first peers file names the pod as local peer and holds it alone', () => {
  assert.equal(renderPeersFile({ podName: 'haproxy-abc', podIp: '10.0.0.7', section: 'haproxy-peers', port: 10000, runtimeDir: '/var/run/haproxy-peer-sync' }),
    'global\n    localpeer haproxy-abc\n    stats socket /var/run/haproxy-peer-sync/admin.sock mode 600 level admin\n' +
    'peers haproxy-peers\n    peer haproxy-abc 10.0.0.7:10000\n');
});

test('IPv6 addresses get the ipv6@ prefix', () => {
  assert.equal(peerAddress('fd00::7', 10000), 'ipv6@fd00::7:10000');
  assert.equal(peerAddress('127.0.0.10', 1), '127.0.0.10:1');
});

test('the userlist holds the password for user admin', () => {
  assert.equal(renderUserlist('s3cret'), 'userlist haproxy-dataplaneapi\n    user admin insecure-password s3cret\n');
});

test('passwords need at least 128 bits and are base64url', () => {
  assert.throws(() => passwordFrom(new Uint8Array(15)), RangeError);
  assert.match(passwordFrom(new Uint8Array(24).fill(255)), /^[A-Za-z0-9_-]{32}$/);
});
