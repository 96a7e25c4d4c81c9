/**
 * The promise to an operator: scaling or rolling the HAProxy tier is invisible to their users. The
 * example of examples/ (webhook from deploy/, its defaults, the official image's stop signal, the
 * recommended front LB) carries a steady stream of requests with a fixed set of session keys through a
 * rollout restart, a scale-out 2 → 6 and a scale-in 6 → 2, three times: no request may fail and no
 * session may be answered by another backend than the one it started on. Once with each HAProxy image.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { waitFor } from './harness/processes.ts';
import { sandboxForTests } from './harness/sandbox.ts';
import { bringUpExample, waitConverged, waitEntriesEverywhere } from './harness/e2e-example.ts';
import { lbAddress, lbGet } from './harness/e2e-lb.ts';
import { startStream, type StreamResult } from './harness/request-stream.ts';
import { HAPROXY_IMAGES, type HaproxyBranch } from './harness/workload.ts';

const RUNS = 3;
const SESSIONS = Array.from({ length: 24 }, (_, i) => `zero-downtime-${String(i).padStart(2, '0')}`);

for (const branch of Object.keys(HAPROXY_IMAGES) as HaproxyBranch[])
  describe(`haproxy:${branch}: zero failed requests and no moved session, with the example as a user applies it`, () => {
    const sb = sandboxForTests({ onStart: (s) => bringUpExample(s, HAPROXY_IMAGES[branch]) });
    let lb = '';
    /** Session key → the backend that served its first request (and must serve every later one). */
    const owners = new Map<string, string>();

    before(async () => {
      await sb().kubectl('scale', 'deployment/haproxy', '--replicas=2');
      const replicas = await waitConverged(sb(), 2, 'scaling the example to 2');
      lb = await lbAddress(sb());
      // The LB finds replicas by DNS and health checks: wait until it sends to both before the sessions start.
      const ips = new Set(replicas.map((r) => r.ip));
      const seen = new Set<string>();
      await waitFor(
        async () => {
          seen.add((await lbGet(lb)).via);
          return [...ips].every((ip) => seen.has(ip));
        },
        { what: 'the front LB to reach both replicas', timeoutMs: 120_000, intervalMs: 50 },
      );
      for (const key of SESSIONS) owners.set(key, (await lbGet(lb, key)).backend);
      // A session's first request creates its entry on one replica, and peers push it to the other; the
      // user's next click comes after that.
      await waitEntriesEverywhere(
        sb(),
        replicas.map((r) => r.pod),
        SESSIONS,
        'every session on both replicas',
        100,
      );
    });

    /**
     * Runs `change` under the stream until the example has converged on `n` replicas with none
     * terminating (so the stopping replicas are gone, not merely out of rotation) and the front LB has
     * sent requests to every one of them.
     */
    async function underLoad(
      what: string,
      n: number,
      change: () => Promise<unknown>,
    ): Promise<StreamResult & { seconds: number }> {
      const began = Date.now();
      const stream = startStream(lb, owners);
      try {
        await change();
        const live = await waitConverged(sb(), n, what);
        // Until the front LB spreads over every live replica (a newcomer is in DNS once Ready, then
        // passes the LB's health checks): the stream must have met the new replicas, not only the old.
        const converged = Date.now();
        await waitFor(
          async () => {
            const seen = stream.servedSince(converged);
            return live.every((r) => seen.has(r.ip));
          },
          { what: `${what}: the front LB to send to all ${n} replicas`, timeoutMs: 60_000, intervalMs: 200 },
        );
      } catch (err) {
        await stream.stop();
        throw err;
      }
      return { ...(await stream.stop()), seconds: (Date.now() - began) / 1000 };
    }

    function check(t: { diagnostic(m: string): void }, what: string, r: StreamResult & { seconds: number }): void {
      t.diagnostic(
        `haproxy:${branch}, ${what}: ${r.sent} requests in ${r.seconds.toFixed(1)} s through ${r.perReplica.size} replicas, ${r.failed} failed, ${r.moved} answered by another backend (${r.movedSessions} sessions)`,
      );
      assert.ok(r.sent >= 100, `${what}: the stream ran (${r.sent} requests)`);
      assert.equal(r.failed, 0, `${what}: failed requests\n${r.examples.join('\n')}`);
      assert.equal(r.moved, 0, `${what}: sessions served by another backend\n${r.examples.join('\n')}`);
    }

    for (let run = 1; run <= RUNS; run++) {
      test(`run ${run}: a rollout restart fails no request and moves no session`, async (t) => {
        const r = await underLoad('rollout restart', 2, () => sb().kubectl('rollout', 'restart', 'deployment/haproxy'));
        check(t, `run ${run}, rollout restart of 2`, r);
      });
      test(`run ${run}: a scale-out 2 → 6 fails no request and moves no session`, async (t) => {
        const r = await underLoad('scale-out 2 → 6', 6, () =>
          sb().kubectl('scale', 'deployment/haproxy', '--replicas=6'),
        );
        check(t, `run ${run}, scale-out 2 → 6`, r);
      });
      test(`run ${run}: a scale-in 6 → 2 fails no request and moves no session`, async (t) => {
        const r = await underLoad('scale-in 6 → 2', 2, () =>
          sb().kubectl('scale', 'deployment/haproxy', '--replicas=2'),
        );
        check(t, `run ${run}, scale-in 6 → 2`, r);
      });
    }
  });
