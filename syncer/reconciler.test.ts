import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { Reconciler, type ReconcileOutcome } from './reconciler.ts';
import { createMetrics } from './metrics.ts';
import { createLogger } from '../common/logger.ts';
import { ApiError, countedCodes, ERRORS } from '../common/errors.ts';
import { ReloadRejectedError, UnknownVersionError, type Backend, type SyncResult } from './direct.ts';
import { dialectFor } from './haproxy-version.ts';
import type { Peer } from './peers.ts';
import { parseShowPeers, type SectionStatus } from './show-peers.ts';
import type { MasterInstance } from './show-proc.ts';
import { fakeTimers } from '../test/support/fake-timers.ts';

class FakeBackend implements Backend {
  calls: (readonly Peer[])[] = [];
  running = true;
  failNext = 0;
  /** HAProxy's master: in a container PID 1 whatever its start; a restart shows in its start time. */
  instance: MasterInstance = { pid: 1, startedAtMs: 0, reloads: 0 };
  version = '2.6.12-1+deb12u4';
  /** What the next failures throw (default: a rejected reload, as 2.6 reports it). */
  failWith: () => Error = () => new ReloadRejectedError('rejected', [], '2.6.12-1+deb12u4');
  section: SectionStatus | undefined = { name: 'haproxy-peers', flags: 0x3, peers: [] };
  /** Whether a pass reloads HAProxy (default: every pass does). */
  reloading = true;
  /** What a reload does to the live section (the new worker's), if the test says. */
  newWorker: ((replaced: SectionStatus | undefined) => SectionStatus | undefined) | undefined;
  async sync(desired: readonly Peer[]): Promise<SyncResult> {
    this.calls.push(desired);
    if (this.failNext > 0) {
      this.failNext--;
      throw this.failWith();
    }
    const d = dialectFor(this.version);
    if (this.running && !d.known) throw new UnknownVersionError(d);
    const reloaded = this.running && this.reloading;
    const replaced = this.section;
    if (reloaded && this.newWorker) this.section = this.newWorker(replaced);
    return {
      running: this.running,
      fileChanged: true,
      reloaded,
      before: [],
      applied: desired,
      instance: this.instance,
      ...(reloaded && replaced !== undefined ? { replaced } : {}),
      ...(this.running && d.known ? { haproxy: d.dialect } : {}),
    };
  }
  async showPeers(): Promise<SectionStatus | undefined> {
    return this.section;
  }
}

const slice = (...names: string[]): V1EndpointSlice => ({
  addressType: 'IPv4',
  metadata: { name: 's' },
  endpoints: names.map((n, i) => ({
    addresses: [`10.0.0.${i + 2}`],
    conditions: { ready: true },
    targetRef: { kind: 'Pod', name: n },
  })),
});

function setup(slices: () => V1EndpointSlice[] | undefined, self = 'me', leadingEdge = false, resyncMs = 60_000) {
  const timers = fakeTimers();
  const backend = new FakeBackend();
  const metrics = createMetrics(false);
  const outcomes: ReconcileOutcome[] = [];
  const reconciler = new Reconciler({
    self: { name: self, ip: '10.0.0.1' },
    port: 10000,
    slices,
    backend,
    timers,
    log: createLogger('test', 'silent'),
    metrics,
    quietMs: 200,
    maxMs: 1000,
    backoff: { baseMs: 100, maxMs: 1000 },
    resyncMs,
    leadingEdge,
    onOutcome: (o) => outcomes.push(o),
  });
  /** The reasons of the "untaught" outcomes reported so far (each one an Event and /status's last error). */
  const untaught = (): string[] => outcomes.flatMap((o) => (o.kind === 'untaught' ? [o.reason] : []));
  return { timers, backend, reconciler, metrics, untaught };
}

test('with the leading edge on: nothing happens before the first list; the first list and a lone change are applied at once, a burst after them in one more pass', async () => {
  let cache: V1EndpointSlice[] | undefined;
  const { timers, backend, reconciler } = setup(() => cache, 'me', true);
  reconciler.start();
  await timers.advance(1000);
  assert.equal(backend.calls.length, 0);
  cache = [slice('a')];
  reconciler.notify(); // the watch's first list
  assert.equal(backend.calls.length, 1);
  await timers.advance(1000);
  cache = [slice('a', 'b')];
  reconciler.notify(); // a lone change, a second later (the maximum): no quiet window to wait for
  assert.deepEqual(
    backend.calls.map((c) => c.map((p) => p.name)),
    [
      ['a', 'me'],
      ['a', 'b', 'me'],
    ],
  );
  for (let i = 0; i < 5; i++) {
    await timers.advance(50);
    cache = [slice('a', 'b', `c${i}`)];
    reconciler.notify();
  }
  await timers.advance(799);
  assert.equal(backend.calls.length, 2);
  await timers.advance(1);
  assert.equal(backend.calls.length, 3); // the maximum after the first change that followed the leading pass
  assert.deepEqual(
    backend.calls[2]?.map((p) => p.name),
    ['a', 'b', 'c4', 'me'],
  );
  await reconciler.stop();
});

test('an event that leaves the peers file as it is starts no pass, and a real change after it is still applied at once', async () => {
  const notReady = (...names: string[]): V1EndpointSlice => {
    const s = slice(...names);
    return {
      ...s,
      endpoints: (s.endpoints ?? []).map((e) => ({ ...e, conditions: { ready: false, serving: false } })),
    };
  };
  let cache: V1EndpointSlice[] | undefined = [notReady('a')];
  const { timers, backend, reconciler } = setup(() => cache, 'me', true);
  reconciler.start(); // the first list: applied at once
  assert.equal(backend.calls.length, 1);
  assert.equal(reconciler.desiredPeers()?.find((p) => p.name === 'a')?.ready, false);
  await timers.advance(1500);
  cache = [slice('a')]; // a turns Ready: same names and addresses
  reconciler.notify();
  await timers.advance(300);
  assert.equal(backend.calls.length, 1, 'no pass for a readiness change');
  assert.equal(reconciler.desiredPeers()?.find((p) => p.name === 'a')?.ready, true, 'the gate sees it at once');
  const bad = slice('a');
  cache = [{ ...bad, endpoints: [...(bad.endpoints ?? []), { addresses: ['nonsense'], targetRef: { name: 'x' } }] }];
  reconciler.notify(); // a skipped endpoint: same peers, but its warning is due
  await timers.advance(200);
  assert.equal(backend.calls.length, 2, 'a pass for the new warning');
  await timers.advance(1000);
  cache = [slice('a', 'b')];
  reconciler.notify(); // idle again: at once
  assert.deepEqual(
    backend.calls.map((c) => c.map((p) => p.name)),
    [
      ['a', 'me'],
      ['a', 'me'],
      ['a', 'b', 'me'],
    ],
  );
  await reconciler.stop();
});

test('the periodic pass leaves changes waiting for their window to it: one pass for the burst, not two', async () => {
  let cache = [slice('a')];
  const { timers, backend, reconciler } = setup(() => cache, 'me', false, 1000);
  reconciler.start(); // a pass at 0, the periodic one every 1000
  await timers.advance(900);
  cache = [slice('a', 'b')];
  reconciler.notify(); // due at 1100
  await timers.advance(150);
  cache = [slice('a', 'b', 'c')];
  reconciler.notify(); // due at 1250; the periodic tick at 1000 found them pending and left them
  await timers.advance(300);
  assert.deepEqual(
    backend.calls.map((c) => c.map((p) => p.name)),
    [
      ['a', 'me'],
      ['a', 'b', 'c', 'me'],
    ],
  );
  await reconciler.stop();
});

test('a change made during a slow pass (a reload waiting for the resync) is applied by the next pass', async () => {
  let cache = [slice('a')];
  const { timers, backend, reconciler } = setup(() => cache);
  const sync = backend.sync.bind(backend);
  backend.sync = async (desired) => {
    await new Promise<void>((resolve) => timers.setTimeout(resolve, 800));
    return sync(desired);
  };
  reconciler.start(); // 0–800
  await timers.advance(100);
  cache = [slice('a', 'b')];
  reconciler.notify();
  await timers.advance(899);
  assert.equal(backend.calls.length, 1);
  await timers.advance(1 + 800); // the window opened when the pass ended (800); the next pass starts at 1000 and takes 800 ms
  assert.deepEqual(
    backend.calls.map((c) => c.map((p) => p.name)),
    [
      ['a', 'me'],
      ['a', 'b', 'me'],
    ],
  );
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
  const { timers, backend, reconciler, untaught } = setup(() => [slice('a')]);
  backend.running = false;
  reconciler.start();
  await timers.advance(10);
  assert.deepEqual(reconciler.readiness(), { ready: false, reason: 'waiting for HAProxy to start' });
  backend.running = true;
  // Ready replica "a" exists, resync timed out (0x20) and its link is not up: not taught.
  backend.section = { name: 'haproxy-peers', flags: 0x33, peers: [] };
  await timers.advance(3000);
  const timedOut = "resync timed out without a teacher; no link to ready replicas: a (not in HAProxy's live section)";
  assert.deepEqual(reconciler.readiness(), { ready: false, reason: timedOut });
  // Reported once (an Event, /status's last error), not at every check of the same verdict.
  assert.deepEqual(untaught(), [timedOut]);
  backend.section = {
    name: 'haproxy-peers',
    flags: 0x2213,
    peers: [{ name: 'a', local: false, active: true, host: '10.0.0.2', port: 10000, lastStatus: 'ESTA', state: 'EST' }],
  };
  await timers.advance(500);
  assert.equal(reconciler.readiness().ready, true);
  backend.section = undefined; // e.g. during a reload: readiness stays
  await timers.advance(500);
  assert.equal(reconciler.readiness().ready, true);
  await reconciler.stop();
});

test('a restarted HAProxy (new master) makes the replica unready until its table is taught again', async () => {
  const { timers, backend, reconciler, untaught } = setup(() => [slice('other', 'me')]);
  const taught: SectionStatus = {
    name: 'haproxy-peers',
    flags: 0x203,
    peers: [
      { name: 'me', local: true, active: false, host: '10.0.0.3', port: 10000, lastStatus: 'NONE', state: undefined },
      { name: 'other', local: false, active: true, host: '10.0.0.2', port: 10000, lastStatus: 'ESTA', state: 'EST' },
    ],
  };
  backend.section = taught;
  reconciler.start();
  reconciler.notify();
  await timers.advance(2000);
  assert.equal(reconciler.readiness().ready, true);

  backend.instance = { pid: 1, startedAtMs: 30_000, reloads: 0 }; // the HAProxy container restarted (PID 1 again): a fresh process, resync still open
  backend.section = { ...taught, flags: 0x0 };
  await timers.advance(60_000); // the periodic pass notices it
  assert.deepEqual(reconciler.readiness(), { ready: false, reason: 'resync in progress' });
  assert.deepEqual(untaught(), [], 'a resync under way ends by itself: nothing to report');

  backend.section = taught; // taught by the other replica
  await timers.advance(1000);
  assert.equal(reconciler.readiness().ready, true);
  await reconciler.stop();
});

test("3.0: the section flags are read with 3.0's table, learned from the version the backend reports", async () => {
  const { timers, backend, reconciler, metrics } = setup(() => [slice('a')]);
  backend.version = '3.0.11-1+deb13u4';
  const link = {
    name: 'a',
    local: false,
    active: true,
    host: '10.0.0.2',
    port: 10000,
    lastStatus: 'ESTA',
    state: 'EST',
    appState: 'RUNNING',
  };
  // 2.6's "taught by a remote peer" (0x200) means nothing in 3.0: not ready.
  backend.section = { name: 'haproxy-peers', flags: 0x2213, peers: [link] };
  reconciler.start();
  await timers.advance(1000);
  assert.equal(reconciler.readiness().ready, false);
  assert.match(
    await metrics.registry.metrics(),
    /haproxy_peer_sync_syncer_haproxy_info\{version="3\.0\.11-1\+deb13u4",branch="3\.0",known="true"\} 1/,
  );
  backend.section = { name: 'haproxy-peers', flags: 0x22100003, peers: [link] };
  await timers.advance(300);
  assert.deepEqual(reconciler.readiness(), { ready: true, reason: 'ready' });
  await reconciler.stop();
});

test('an HAProxy version the syncer does not know: refused, un-Ready with that reason, never guessed; known again → ready', async () => {
  const { timers, backend, reconciler, metrics } = setup(() => [slice('a')]);
  backend.version = '2.8.5-1';
  backend.section = {
    name: 'haproxy-peers',
    flags: 0x2213,
    peers: [{ name: 'a', local: false, active: true, host: '10.0.0.2', port: 10000, lastStatus: 'ESTA', state: 'EST' }],
  };
  reconciler.start();
  await timers.advance(5000);
  const r = reconciler.readiness();
  assert.equal(r.ready, false);
  assert.match(r.reason, /^HAProxy 2\.8\.5-1 is not a version this syncer knows \(branch 2\.8; known: 2\.6, 3\.0\)/);
  const text = await metrics.registry.metrics();
  assert.match(text, /haproxy_peer_sync_syncer_haproxy_info\{version="2\.8\.5-1",branch="",known="false"\} 1/);
  assert.match(
    text,
    new RegExp(`haproxy_peer_sync_syncer_errors_total\\{code="${ERRORS.HPS_HAPROXY_VERSION.code}"\\} [1-9]`),
  );
  assert.match(text, /haproxy_peer_sync_syncer_ready 0/);
  backend.version = '2.6.12-1+deb12u4'; // the container was replaced by a known version
  await timers.advance(2000);
  assert.deepEqual(reconciler.readiness(), { ready: true, reason: 'ready' });
  await reconciler.stop();
});

test("a rejected reload: HAProxy's own error lines in the failure metric until a reload succeeds", async () => {
  const { timers, backend, reconciler, metrics } = setup(() => [slice('a')]);
  backend.version = '3.0.11-1+deb13u4';
  const log = [
    '[NOTICE]   (7) : haproxy version is 3.0.11-1+deb13u4',
    "[ALERT]    (7) : config : parsing [peers.cfg:5] : unknown keyword 'x' in 'peers' section",
    '[WARNING]  (7) : Loading failure!',
  ];
  backend.failNext = 1;
  backend.failWith = () =>
    new ReloadRejectedError('HAProxy 3.0.11-1+deb13u4 rejected the configuration', log, '3.0.11-1+deb13u4');
  reconciler.start();
  await timers.advance(10);
  const text = await metrics.registry.metrics();
  assert.match(
    text,
    /haproxy_peer_sync_syncer_reload_failure_info\{haproxy_version="3\.0\.11-1\+deb13u4",message="\[ALERT\]    \(7\) : config : parsing \[peers\.cfg:5\] : unknown keyword 'x' in 'peers' section"\} 1/,
  );
  assert.match(text, /haproxy_peer_sync_syncer_reloads_total\{result="failed"\} 1/);
  await timers.advance(1000); // the retry reloads successfully
  const after = await metrics.registry.metrics();
  assert.doesNotMatch(after, /haproxy_peer_sync_syncer_reload_failure_info\{/);
  assert.match(after, /haproxy_peer_sync_syncer_reloads_total\{result="succeeded"\} 1/);
  await reconciler.stop();
});

// Sidecar-mode regular, with `show peers` as the real binaries printed it (p3 is this replica; p1 and p2
// are Ready and have not declared it): HAProxy started with the init container's file (p3 alone), its
// resync over with no one to ask; the syncer then wrote p1, p2, p3 and reloaded; the new worker was
// "taught" by the old one (2.6 0x1103, 3.0 0x11000003) — an empty table.
const fixture = (name: string): SectionStatus => {
  const [s] = parseShowPeers(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
  assert.ok(s, name);
  return s;
};
const linksUp = (s: SectionStatus): SectionStatus => ({
  ...s,
  peers: s.peers.map((p) => (p.local ? p : { ...p, active: true, lastStatus: 'ESTA' })),
});
for (const v of [
  { version: '2.6.12-1+deb12u4', branch: '2.6' },
  { version: '3.0.11-1+deb13u4', branch: '3.0' },
]) {
  const alone = fixture(`show-peers-${v.branch}-started-alone.txt`);
  const untaught = fixture(`show-peers-${v.branch}-reloaded-untaught.txt`);

  test(`${v.branch}: reloaded before being taught, the old worker's "finished" lesson does not make the replica ready`, async () => {
    const { timers, backend, reconciler, untaught: reported } = setup(() => [slice('p1', 'p2', 'p3')], 'p3');
    backend.version = v.version;
    backend.section = alone;
    backend.newWorker = () => untaught; // the first pass reloads
    reconciler.start();
    await timers.advance(1000);
    const reason =
      'resync timed out without a teacher, then a reload passed the untaught table on; ' +
      'no link to ready replicas: p1 (UNKN: it does not declare this replica), p2 (UNKN: it does not declare this replica)';
    assert.deepEqual(reconciler.readiness(), { ready: false, reason });
    assert.deepEqual(reported(), [reason]);
    backend.reloading = false;
    backend.section = linksUp(untaught); // p1 and p2 declare p3 at last and dial it
    await timers.advance(60_000);
    assert.deepEqual(reconciler.readiness(), {
      ready: false,
      reason: 'resync timed out without a teacher, then a reload passed the untaught table on',
    });
    // Another reload hands the same empty table on: still not taught.
    backend.reloading = true;
    backend.newWorker = () => linksUp(untaught);
    reconciler.notify();
    await timers.advance(2000);
    assert.equal(reconciler.readiness().ready, false);
    await reconciler.stop();
  });

  test(`${v.branch}: reloaded after being taught: still ready, and every later worker of that HAProxy is taught (the latch)`, async () => {
    let cache = [slice('p1', 'p2', 'p3')];
    const { timers, backend, reconciler } = setup(() => cache, 'p3');
    backend.version = v.version;
    backend.reloading = false;
    const F = dialectFor(v.version);
    assert.ok(F.known);
    // Taught by p1 (remote "finished"), links to p1 and p2 up.
    backend.section = { ...linksUp(untaught), flags: F.dialect.sectionFlags.remoteFinished | 0x3 };
    reconciler.start();
    await timers.advance(1000);
    assert.deepEqual(reconciler.readiness(), { ready: true, reason: 'ready' });
    for (let i = 4; i < 6; i++) {
      backend.reloading = true;
      backend.newWorker = () => linksUp(untaught);
      cache = [slice('p1', 'p2', 'p3', `p${i}`)];
      reconciler.notify();
      await timers.advance(2000);
      assert.deepEqual(reconciler.readiness(), { ready: true, reason: 'ready' });
    }
    await reconciler.stop();
  });

  test(`${v.branch}: a table taught while a link was still refused is handed on by a reload`, async () => {
    let cache = [slice('p1', 'p2', 'p3')];
    const { timers, backend, reconciler } = setup(() => cache, 'p3');
    backend.version = v.version;
    backend.reloading = false;
    const F = dialectFor(v.version);
    assert.ok(F.known);
    // Taught by p1, but p2 still refuses (UNKN): not ready, table taught.
    backend.section = {
      ...untaught,
      flags: F.dialect.sectionFlags.remoteFinished | 0x3,
      peers: untaught.peers.map((p) => (p.name === 'p1' ? { ...p, active: true, lastStatus: 'ESTA' } : p)),
    };
    reconciler.start();
    await timers.advance(1000);
    assert.match(reconciler.readiness().reason, /^links not established: p2 \(UNKN/);
    // A replica p4 starts (not Ready yet): a reload; the new worker is taught by the taught old one, and p2 declares us.
    backend.reloading = true;
    backend.newWorker = () => linksUp(untaught);
    const starting = slice('p1', 'p2', 'p3', 'p4');
    cache = [
      {
        ...starting,
        endpoints: (starting.endpoints ?? []).map((e) =>
          e.targetRef?.name === 'p4' ? { ...e, conditions: { ready: false } } : e,
        ),
      },
    ];
    reconciler.notify();
    await timers.advance(2000);
    assert.deepEqual(reconciler.readiness(), { ready: true, reason: 'ready' });
    await reconciler.stop();
  });

  test(`${v.branch}: a restarted HAProxy (new master) is untaught again, and so is a worker it reloads before being taught`, async () => {
    const { timers, backend, reconciler } = setup(() => [slice('p1', 'p2', 'p3')], 'p3');
    backend.version = v.version;
    backend.reloading = false;
    const F = dialectFor(v.version);
    assert.ok(F.known);
    backend.section = { ...linksUp(untaught), flags: F.dialect.sectionFlags.remoteFinished | 0x3 };
    reconciler.start();
    await timers.advance(1000);
    assert.equal(reconciler.readiness().ready, true);
    // The container restarted (PID 1 again, started later); its first worker ended its resync alone, and a
    // reload followed before any lesson.
    backend.instance = { pid: 1, startedAtMs: 30_000, reloads: 0 };
    backend.section = alone;
    backend.reloading = true;
    backend.newWorker = () => linksUp(untaught);
    await timers.advance(60_000); // the periodic pass notices the new master
    assert.deepEqual(reconciler.readiness(), {
      ready: false,
      reason: 'resync timed out without a teacher, then a reload passed the untaught table on',
    });
    await reconciler.stop();
  });
}

test('a syncer started after HAProxy was reloaded cannot know what the reload handed on: HAProxy\'s "taught by the old worker" is taken at its word', async () => {
  // E.g. the syncer container restarted: a replica Ready before must not be stranded un-Ready by it.
  const { timers, backend, reconciler } = setup(() => [slice('p1', 'p2', 'p3')], 'p3');
  backend.reloading = false;
  backend.instance = { pid: 1, startedAtMs: 0, reloads: 4 };
  backend.section = linksUp(fixture('show-peers-2.6-reloaded-untaught.txt'));
  reconciler.start();
  await timers.advance(1000);
  assert.deepEqual(reconciler.readiness(), { ready: true, reason: 'ready' });
  await reconciler.stop();
});

test('errors: every code the syncer counts starts at 0; a retryable one is retried with backoff, one that is not at the slowest pace', async () => {
  const { timers, backend, reconciler, metrics } = setup(() => [slice('a')]);
  const text = await metrics.registry.metrics();
  for (const code of countedCodes('syncer'))
    assert.match(text, new RegExp(`^haproxy_peer_sync_syncer_errors_total\\{code="${code}"\\} 0$`, 'm'), code);
  // A rejected reload (retryable): the next pass within the first backoff step (100 ms); that one meets a
  // Data Plane API that refuses the request itself (400: asking again soon cannot help): retried after the cap (1 s).
  const failures = [
    () => new ReloadRejectedError('rejected', [], '2.6.12-1+deb12u4'),
    () => new ApiError(ERRORS.HPS_DPAPI, 'POST …/peer_entries answered 400', { status: 400, retryable: false }),
  ];
  backend.failNext = failures.length;
  backend.failWith = () => (failures.shift() ?? (() => new Error('no more failures')))();
  reconciler.start();
  assert.equal(backend.calls.length, 1);
  await timers.advance(100);
  assert.equal(backend.calls.length, 2);
  // (A retryable one would be retried within 200 ms now: the second backoff step.)
  await timers.advance(900);
  assert.equal(backend.calls.length, 2);
  await timers.advance(200);
  assert.equal(backend.calls.length, 3);
  const after = await metrics.registry.metrics();
  assert.match(after, new RegExp(`errors_total\\{code="${ERRORS.HPS_DPAPI.code}"\\} 1$`, 'm'));
  assert.match(after, new RegExp(`errors_total\\{code="${ERRORS.HPS_RELOAD_FAILED.code}"\\} 1$`, 'm'));
  await reconciler.stop();
});
