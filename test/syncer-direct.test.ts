// The direct backend against a real HAProxy, on every supported version: write + reload + confirm, no
// reload when nothing changed, a reload that keeps the table, a broken peers file rejected (with HAProxy's
// own error lines on 3.0) and restored while the old worker keeps serving, a first file written before start.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HAPROXY_VERSIONS, startHaproxy, waitFor, type HaproxyReplica } from './harness/haproxy.ts';
import { DirectBackend, ReloadRejectedError } from '../syncer/direct.ts';
import { ERRORS } from '../common/errors.ts';

for (const [v, version] of HAPROXY_VERSIONS.entries()) {
  describe(`HAProxy ${version}`, () => {
    const base = 10 + Math.floor(Math.random() * 60) + 80 * v;
    const ip = (i: number): string => `127.0.4.${base + i}`;
    const dir = mkdtempSync(join(tmpdir(), 'hps-direct-'));
    let haproxy: HaproxyReplica | undefined;
    after(async () => {
      await haproxy?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const self = { name: 'pod-0', host: ip(0), port: 10000 };
    const other = { name: 'pod-1', host: ip(1), port: 10000 };
    const third = { name: 'pod-2', host: ip(2), port: 10000 };
    const backend = new DirectBackend({ runtimeDir: dir, section: 'haproxy-peers', localPeer: 'pod-0' });

    test('before HAProxy starts, the file is written and no reload is attempted; then the version is learned', async () => {
      const r = await backend.sync([self]);
      assert.deepEqual([r.running, r.fileChanged, r.reloaded, r.haproxy], [false, true, false, undefined]);
      assert.match(readFileSync(backend.peersFile, 'utf8'), /localpeer pod-0[\s\S]*peer pod-0 127\.0\.4\.\d+:10000/);
      haproxy = await startHaproxy({ name: 'pod-0', ip: ip(0), dir, version });
      const again = await backend.sync([self]);
      assert.deepEqual([again.running, again.fileChanged, again.reloaded], [true, false, false]);
      assert.equal(again.haproxy?.branch, version);
      assert.equal(again.haproxy?.version, haproxy.fullVersion);
    });

    test('a new peer costs one write and one confirmed reload that keeps the table; the same set again costs nothing', async (t) => {
      assert.ok(haproxy);
      await haproxy.setTable('kept', 3);
      const before = await haproxy.reloadCount();
      const started = Date.now();
      const r = await backend.sync([self, other]);
      assert.deepEqual([r.fileChanged, r.reloaded], [true, true]);
      // Alone, 3.0 ends its resync at once; 2.6 only after its 5 s timeout, which the backend waits for
      // (a reload before it would lose the table).
      t.diagnostic(
        `waited ${r.resyncWaitedMs ?? 0} ms for the running worker's resync; sync took ${Date.now() - started} ms`,
      );
      if (version === '3.0') assert.equal(r.resyncWaitedMs, 0);
      assert.equal(await haproxy.reloadCount(), before + 1);
      const section = await haproxy.showPeers();
      assert.deepEqual(section?.peers.map((p) => p.name).sort(), ['pod-0', 'pod-1']);
      const row = await waitFor(
        'the entry on the new worker',
        async () => (await haproxy?.showTable())?.get('kept'),
        10_000,
      );
      assert.match(row, /gpc0=3/);
      const same = await backend.sync([other, self]);
      assert.deepEqual([same.fileChanged, same.reloaded], [false, false]);
      assert.equal(await haproxy.reloadCount(), before + 1);
    });

    test("a broken peers file: rejected, reported (with HAProxy's own lines where the version returns them), restored; the old worker keeps serving", async () => {
      assert.ok(haproxy);
      await haproxy.setTable('still-served', 4);
      const good = readFileSync(backend.peersFile, 'utf8');
      const workerBefore = (await haproxy.showProc()).workers;
      const broken = { ...third, port: 70000 }; // HAProxy: "invalid port '70000'"
      await assert.rejects(backend.sync([self, other, broken]), (err: unknown) => {
        assert.ok(err instanceof ReloadRejectedError, String(err));
        assert.equal(err.code, ERRORS.HPS_RELOAD_FAILED.code);
        assert.equal(err.haproxyVersion, haproxy?.fullVersion);
        if (version === '3.0') {
          assert.match(
            err.reasons.join('\n'),
            /\[ALERT\].*peers\.cfg:\d+\] : 'server [^']*\/pod-2' : invalid port '70000'/,
          );
          assert.match(err.message, /invalid port '70000'/);
          assert.match(err.haproxyLog.join('\n'), /Loading failure!/);
        } else {
          assert.deepEqual(err.reasons, []);
          assert.match(err.message, /does not return its error lines/);
        }
        assert.match(err.message, /previous worker keeps serving; the previous file was restored/);
        return true;
      });
      assert.equal(readFileSync(backend.peersFile, 'utf8'), good);
      const proc = await haproxy.showProc();
      assert.deepEqual(proc.workers, workerBefore, 'the same worker serves');
      assert.ok(proc.failed > 0);
      assert.match((await haproxy.showTable()).get('still-served') ?? '', /gpc0=4/);
      assert.deepEqual((await haproxy.showPeers())?.peers.map((p) => p.name).sort(), ['pod-0', 'pod-1']);
      // The next good file loads, and the new worker is taught the table by the old one.
      const r = await backend.sync([self, other, third]);
      assert.equal(r.reloaded, true);
      for (const key of ['kept', 'still-served'])
        await waitFor(`${key} on the new worker`, async () => (await haproxy?.showTable())?.get(key), 10_000);
    });
  });
}
