import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { Reconciler } from './reconciler.ts';
import { createMetrics } from './metrics.ts';
import { createLogger } from '../common/logger.ts';
import { HaproxyError } from '../common/errors.ts';
import { ReloadRejectedError, type Backend, type SyncResult } from './direct.ts';
import { dialectFor } from './haproxy-version.ts';
import type { Peer } from './peers.ts';
import type { SectionStatus } from './show-peers.ts';
import { fakeTimers } from './test-timers.ts';

class FakeBackend implements Backend {
  calls: (readonly Peer[])[] = [];
  running = true;
  failNext = 0;
  instance = 100;
  version = '2.6.12-1+deb12u4';
  /** What the next failures throw (default: a rejected reload, as 2.6 reports it). */
  failWith: () => Error = () => new ReloadRejectedError('rejected', [], '2.6.12-1+deb12u4');
  section: SectionStatus | undefined = { name: 'haproxy-peers', flags: 0x3, peers: [] };
  async sync(desired: readonly Peer[]): Promise<SyncResult> {
    this.calls.push(desired);
    if (this.failNext > 0) { this.failNext--; throw this.failWith(); }
    const d = dialectFor(this.version);
    if (this.running && !d.known) throw new HaproxyError(d.reason, { code: 'HPS_HAPROXY_VERSION', retryable: true });
    return { running: this.running, fileChanged: true, reloaded: this.running, before: [], applied: desired, instance: this.instance,
      ...(this.running && d.known ? { haproxy: d.dialect } : {}) };
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
  const metrics = createMetrics(false);
  const reconciler = new Reconciler({
    self: { name: 'me', ip: '10.0.0.1' }, port: 10000, slices, backend, timers,
    log: createLogger('test', 'silent'), metrics,
    quietMs: 200, maxMs: 1000, backoff: { baseMs: 100, maxMs: 1000 }, resyncMs: 60_000,
  });
  return { timers, backend, reconciler, metrics };
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

test('3.0: the section flags are read with 3.0\'s table, learned from the version the backend reports', async () => {
  const { timers, backend, reconciler, metrics } = setup(() => [slice('a')]);
  backend.version = '3.0.11-1+deb13u4';
  const link = { name: 'a', local: false, active: true, host: '10.0.0.2', port: 10000, lastStatus: 'ESTA', state: 'EST', appState: 'RUNNING' };
  // 2.6's "taught by a remote peer" (0x200) means nothing in 3.0: not ready.
  backend.section = { name: 'haproxy-peers', flags: 0x2213, peers: [link] };
  reconciler.start();
  await timers.advance(1000);
  assert.equal(reconciler.readiness().ready, false);
  assert.match(await metrics.registry.metrics(), /hps_syncer_haproxy_info\{version="3\.0\.11-1\+deb13u4",branch="3\.0",known="true"\} 1/);
  backend.section = { name: 'haproxy-peers', flags: 0x22100003, peers: [link] };
  await timers.advance(300);
  assert.deepEqual(reconciler.readiness(), { ready: true, reason: 'ready' });
  await reconciler.stop();
});

test('an HAProxy version the syncer does not know: refused, un-Ready with that reason, never guessed; known again → ready', async () => {
  const { timers, backend, reconciler, metrics } = setup(() => [slice('a')]);
  backend.version = '2.8.5-1';
  backend.section = { name: 'haproxy-peers', flags: 0x2213, peers: [
    { name: 'a', local: false, active: true, host: '10.0.0.2', port: 10000, lastStatus: 'ESTA', state: 'EST' }] };
  reconciler.start();
  await timers.advance(5000);
  const r = reconciler.readiness();
  assert.equal(r.ready, false);
  assert.match(r.reason, /^HAProxy 2\.8\.5-1 is not a version this syncer knows \(branch 2\.8; known: 2\.6, 3\.0\)/);
  const text = await metrics.registry.metrics();
  assert.match(text, /hps_syncer_haproxy_info\{version="2\.8\.5-1",branch="",known="false"\} 1/);
  assert.match(text, /hps_syncer_errors_total\{code="HPS_HAPROXY_VERSION"\} \d+/);
  assert.match(text, /hps_syncer_ready 0/);
  backend.version = '2.6.12-1+deb12u4'; // the container was replaced by a known version
  await timers.advance(2000);
  assert.deepEqual(reconciler.readiness(), { ready: true, reason: 'ready' });
  await reconciler.stop();
});

test('a rejected reload: HAProxy\'s own error lines in the failure metric until a reload succeeds', async () => {
  const { timers, backend, reconciler, metrics } = setup(() => [slice('a')]);
  backend.version = '3.0.11-1+deb13u4';
  const log = ['[NOTICE]   (7) : haproxy version is 3.0.11-1+deb13u4',
    "[ALERT]    (7) : config : parsing [peers.cfg:5] : unknown keyword 'x' in 'peers' section", '[WARNING]  (7) : Loading failure!'];
  backend.failNext = 1;
  backend.failWith = () => new ReloadRejectedError('HAProxy 3.0.11-1+deb13u4 rejected the configuration', log, '3.0.11-1+deb13u4');
  reconciler.start();
  await timers.advance(10);
  const text = await metrics.registry.metrics();
  assert.match(text, /hps_syncer_reload_failure_info\{haproxy_version="3\.0\.11-1\+deb13u4",message="\[ALERT\]    \(7\) : config : parsing \[peers\.cfg:5\] : unknown keyword 'x' in 'peers' section"\} 1/);
  assert.match(text, /hps_syncer_reloads_total\{result="failed"\} 1/);
  await timers.advance(1000); // the retry reloads successfully
  const after = await metrics.registry.metrics();
  assert.doesNotMatch(after, /hps_syncer_reload_failure_info\{/);
  assert.match(after, /hps_syncer_reloads_total\{result="succeeded"\} 1/);
  await reconciler.stop();
});
