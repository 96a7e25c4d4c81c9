import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Endpoint } from '@kubernetes/client-node';
import { desiredPeers, normalizeIp } from './desired.ts';

const ep = (
  name: string | undefined,
  ip: string | undefined,
  cond: V1Endpoint['conditions'] = { ready: true },
): V1Endpoint => ({
  addresses: ip === undefined ? [] : [ip],
  conditions: cond,
  ...(name === undefined ? {} : { targetRef: { kind: 'Pod', name, namespace: 'ns' } }),
});
const slice = (name: string, endpoints: V1Endpoint[], addressType = 'IPv4'): V1EndpointSlice => ({
  addressType,
  endpoints,
  metadata: { name, labels: { 'kubernetes.io/service-name': 'web' } },
});
const self = { name: 'web-a', ip: '10.0.0.1' };
const names = (r: ReturnType<typeof desiredPeers>): string[] => r.peers.map((p) => `${p.name}@${p.host}`);

test('every non-terminating endpoint, ready or not, plus self', () => {
  const r = desiredPeers(
    [
      slice('web-1', [
        ep('web-b', '10.0.0.2'),
        ep('web-c', '10.0.0.3', { ready: false }),
        ep('web-d', '10.0.0.4', { ready: false, terminating: true }),
      ]),
    ],
    self,
    10000,
  );
  assert.deepEqual(names(r), ['web-a@10.0.0.1', 'web-b@10.0.0.2', 'web-c@10.0.0.3']);
  assert.deepEqual(
    r.peers.map((p) => p.ready),
    [false, true, false],
  );
  assert.deepEqual(r.warnings, []);
});

test('nil ready means ready (discovery.k8s.io/v1)', () => {
  assert.equal(desiredPeers([slice('s', [ep('web-b', '10.0.0.2', {})])], self, 1).peers[1]?.ready, true);
});

test('self is included with its downward-API address even when no slice lists it yet', () => {
  assert.deepEqual(names(desiredPeers([], self, 10000)), ['web-a@10.0.0.1']);
  assert.deepEqual(names(desiredPeers([slice('s', [ep('web-a', '10.9.9.9')])], self, 10000)), ['web-a@10.0.0.1']);
});

test('endpoints without targetRef, address or a valid name are skipped with a warning', () => {
  const r = desiredPeers(
    [
      slice('s', [
        ep(undefined, '10.0.0.2'),
        ep('web-c', undefined),
        ep('bad name!', '10.0.0.4'),
        ep('web-e', 'not-an-ip'),
      ]),
    ],
    self,
    10000,
  );
  assert.deepEqual(names(r), ['web-a@10.0.0.1']);
  assert.equal(r.warnings.length, 4);
  assert.match(
    r.warnings.join('\n'),
    /no targetRef[\s\S]*no address[\s\S]*not a valid HAProxy peer name[\s\S]*not an IP/,
  );
});

test('a bad slice is skipped with a warning, the others still count', () => {
  const bad = { ...slice('s1', []), endpoints: 'oops' } as unknown as V1EndpointSlice;
  const fqdn = slice('s2', [ep('web-x', 'x.example')], 'FQDN');
  const r = desiredPeers([bad, fqdn, slice('s3', [ep('web-b', '10.0.0.2')])], self, 10000);
  assert.deepEqual(names(r), ['web-a@10.0.0.1', 'web-b@10.0.0.2']);
  assert.equal(r.warnings.length, 2);
});

test('a pod in two slices appears once; the ready copy wins', () => {
  const r = desiredPeers(
    [
      slice('s1', [ep('web-b', '10.0.0.2', { ready: false })]),
      slice('s2', [ep('web-b', '10.0.0.2', { ready: true })]),
      slice('s3', [ep('web-b', '10.0.0.2', { ready: true, terminating: true })]),
    ],
    self,
    10000,
  );
  assert.deepEqual(names(r), ['web-a@10.0.0.1', 'web-b@10.0.0.2']);
  assert.equal(r.peers[1]?.ready, true);
});

test('IPv6 endpoints are normalized the way HAProxy prints them', () => {
  assert.equal(normalizeIp('FD00:0:0::0003'), 'fd00::3');
  assert.equal(normalizeIp('10.0.0.256'), undefined);
  assert.equal(normalizeIp('1.2.3'), undefined);
  const r = desiredPeers([slice('s', [ep('web-b', 'FD00::2')], 'IPv6')], { name: 'web-a', ip: 'fd00::1' }, 10000);
  assert.deepEqual(names(r), ['web-a@fd00::1', 'web-b@fd00::2']);
});
