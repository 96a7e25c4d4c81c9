import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Endpoint } from '@kubernetes/client-node';
import { desiredPeers, normalizeIp } from './desired.ts';
import { evaluateGate } from './startup.ts';

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

test('every endpoint that is not terminating or still serving, ready or not, plus self', () => {
  const r = desiredPeers(
    [
      slice('web-1', [
        ep('web-b', '10.0.0.2'),
        ep('web-c', '10.0.0.3', { ready: false }),
        ep('web-d', '10.0.0.4', { ready: false, serving: false, terminating: true }),
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

/** The conditions the EndpointSlice controller publishes (endpointslice/utils.go, podToEndpoint). */
const published = (
  podReady: boolean,
  terminating: boolean,
  publishNotReadyAddresses = false,
): V1Endpoint['conditions'] => ({
  ready: publishNotReadyAddresses || (podReady && !terminating),
  serving: podReady,
  terminating,
});

test('a deleted replica stays declared through its drain, not ready, and leaves once its pod is no longer Ready', () => {
  const at = (cond: V1Endpoint['conditions'] | undefined): ReturnType<typeof desiredPeers> =>
    desiredPeers(
      [slice('s', [ep('web-b', '10.0.0.2'), ...(cond === undefined ? [] : [ep('web-c', '10.0.0.3', cond)])])],
      self,
      10000,
    );
  const running = at(published(true, false));
  const draining = at(published(true, true)); // deleted: the preStop sleep, HAProxy still serving
  const exited = at(published(false, true)); // HAProxy exited: its container, so the pod, not Ready
  const gone = at(undefined);
  assert.deepEqual(names(running), ['web-a@10.0.0.1', 'web-b@10.0.0.2', 'web-c@10.0.0.3']);
  assert.deepEqual(names(draining), names(running), 'the same peers through the drain: no reload at deletion');
  assert.deepEqual(
    draining.peers.map((p) => p.ready),
    [false, true, false],
    'a draining replica is not a ready one',
  );
  assert.deepEqual(names(exited), ['web-a@10.0.0.1', 'web-b@10.0.0.2']);
  assert.deepEqual(names(gone), names(exited), 'its removal from the slice changes nothing more: one reload in all');
  assert.deepEqual([...running.warnings, ...draining.warnings, ...exited.warnings], []);
});

test('with publishNotReadyAddresses (ready always true), readiness comes from serving', () => {
  const r = desiredPeers(
    [
      slice('s', [
        ep('web-b', '10.0.0.2', published(true, false, true)),
        ep('web-c', '10.0.0.3', published(false, false, true)), // starting
        ep('web-d', '10.0.0.4', published(true, true, true)), // draining
        ep('web-e', '10.0.0.5', published(false, true, true)), // stopped
      ]),
    ],
    self,
    10000,
  );
  assert.deepEqual(names(r), ['web-a@10.0.0.1', 'web-b@10.0.0.2', 'web-c@10.0.0.3', 'web-d@10.0.0.4']);
  assert.deepEqual(
    r.peers.map((p) => p.ready),
    [false, true, false, false],
  );
});

test('a terminating endpoint without serving (an older publisher) counts as serving, as the API says nil means', () => {
  const r = desiredPeers([slice('s', [ep('web-b', '10.0.0.2', { ready: false, terminating: true })])], self, 10000);
  assert.deepEqual(names(r), ['web-a@10.0.0.1', 'web-b@10.0.0.2']);
  assert.equal(r.peers[1]?.ready, false);
});

test('the start-up gate of a new replica does not wait for a draining one', async () => {
  const { peers } = desiredPeers(
    [slice('s', [ep('web-b', '10.0.0.2', published(true, false)), ep('web-c', '10.0.0.3', published(true, true))])],
    { name: 'web-new', ip: '10.0.0.9' },
    10000,
  );
  const asked: string[] = [];
  const v = await evaluateGate(
    {
      localName: 'web-new',
      desired: () => peers,
      probe: async (p) => {
        asked.push(p.name);
        return p.name === 'web-c' ? 504 : 200;
      },
      haproxyRunning: async () => false,
      now: () => 0,
      maxWaitMs: 30_000,
    },
    0,
  );
  assert.deepEqual(asked, ['web-b']);
  assert.equal(v.open, true);
});
