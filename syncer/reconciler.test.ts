import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { Reconciler } from './reconciler.ts';
import { createMetrics } from './metrics.ts';
import { createLogger } from '../common/logger.ts';
import { HaproxyError } from '../common/errors.ts';
import type { Backend, SyncResult } from './direct.ts';
import type { Peer } from './peers.ts';
import type { SectionStatus } from './show-peers.ts';
import { fakeTimers } from './test-timers.ts';

class FakeBackend implements Backend {
  calls: (readonly Peer[])[] = [];
  running = true;
  failNext = 0;
  instance = 100;
  section: SectionStatus | undefined = { name: 'haproxy-peers', flags: 0x3, peers: [] };
  async sync(desired: readonly Peer[]): Promise<SyncResult> {
    this.calls.push(desired);
    if (this.failNext > 0) { this.failNext--; throw new HaproxyError('rejected', { code: 'HPS_RELOAD_FAILED', retryable: true }); }
    return { running: this.running, fileChanged: true, reloaded: this.running, before: [], applied: desired, instance: this.instance };
  }
  async showPeers(): Promise<SectionStatus | undefined> { return this.section; }
}

const slice = (...names: string[]): V1EndpointSlice => ({
  addressType: 'IPv4', metadata: { name: 's' },
  endpoints: names.map((n, i) => ({ addresses: [`10.0.0.${i + 2}`], conditions: { ready: true }, targetRef: { kind: 'Pod', name: n } })),
});

function setup(slices: () => V1EndpointSlice[] | undefined) {
  const timers = fakeTimers();
  const backend = new FakeBackend();
  const reconciler = new Reconciler({
    self: { name: 'me', ip: '10.0.0.1' }, port: 10000, slices, backend, timers,
    log: createLogger('test', 'silent'), metrics: createMetrics(false),
    quietMs: 200, maxMs: 1000, backoff: { baseMs: 100, maxMs: 1000 }, resyncMs: 60_000,
  });
  return { timers, backend, reconciler };
}

test('nothing happens before the first list; then a burst of notifications costs one pass', async () => {
  let cache: V1EndpointSlice[] | undefined;
  const { timers, backend, reconciler } = setup(() => cache);
  reconciler.start();
  await timers.advance(1000);
  assert.equal(backend.calls.length, 0);
  cache = [slice('a')];
  for (let i = 0; i < 5; i++) { reconciler.notify(); cache = [slice('a', `b${i}`)]; await timers.advance(50); }
  await timers.advance(200);
  assert.equal(backend.calls.length, 1);
  assert.deepEqual(backend.calls[0]?.map((p) => p.name), ['a', 'b4', 'me']);
  await reconciler.stop();
});

test('a failed pass is retried with backoff until it succeeds', async () => {
  const { timers, backend, reconciler } = setup(() => [slice('a')]);
  backend.failNext = 2;
  reconciler.start();
  await timers.advance(2000);
  assert.equal(backend.calls.length, 3);
  assert.doesNotMatch(reconciler.readiness().reason, /first successful reconcile/);
  await reconciler.stop();
});

test('readiness: 503 until HAProxy runs, then until taught, then latched', async () => {
  const { timers, backend, reconciler } = setup(() => [slice('a')]);
  backend.running = false;
  reconciler.start();
  await timers.advance(10);
  assert.deepEqual(reconciler.readiness(), { ready: false, reason: 'waiting for HAProxy to start' });
  backend.running = true;
  // Ready replica "a" exists, resync timed out (0x20) and its link is not up: not taught.
  backend.section = { name: 'haproxy-peers', flags: 0x33, peers: [] };
  await timers.advance(3000);
  assert.equal(reconciler.readiness().ready, false);
  assert.match(reconciler.readiness().reason, /timed out/);
  backend.section = { name: 'haproxy-peers', flags: 0x2213, peers: [
    { name: 'a', local: false, active: true, host: '10.0.0.2', port: 10000, lastStatus: 'ESTA', state: 'EST' }] };
  await timers.advance(500);
  assert.equal(reconciler.readiness().ready, true);
  backend.section = undefined; // e.g. during a reload: readiness stays
  await timers.advance(500);
  assert.equal(reconciler.readiness().ready, true);
  await reconciler.stop();
});

test('a restarted HAProxy (new master) makes the replica unready until its table is taught again', async () => {
  const { timers, backend, reconciler } = setup(() => [slice('other', 'me')]);
  const taught: SectionStatus = { name: 'haproxy-peers', flags: 0x203, peers: [
    { name: 'me', local: true, active: false, host: '10.0.0.3', port: 10000, lastStatus: 'NONE', state: undefined },
    { name: 'other', local: false, active: true, host: '10.0.0.2', port: 10000, lastStatus: 'ESTA', state: 'EST' },
  ] };
  backend.section = taught;
  reconciler.start();
  reconciler.notify();
  await timers.advance(2000);
  assert.equal(reconciler.readiness().ready, true);

  backend.instance = 200; // the HAProxy container restarted: a fresh process, resync still open
  backend.section = { ...taught, flags: 0x0 };
  await timers.advance(60_000); // the periodic pass notices it
  assert.deepEqual(reconciler.readiness(), { ready: false, reason: 'resync in progress' });

  backend.section = taught; // taught by the other replica
  await timers.advance(1000);
  assert.equal(reconciler.readiness().ready, true);
  await reconciler.stop();
});
