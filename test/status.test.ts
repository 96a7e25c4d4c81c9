/**
 * `haproxy-peer-sync status` against the example on the real node, run from the host as a user would
 * (kubeconfig, the apiserver's pod proxy to each syncer's /status): once converged it prints one correct
 * line per replica — checked against what HAProxy itself answers on each pod's master CLI — and exits 0;
 * while a newcomer of a scale-out is not yet taught (held back) it exits 1 and says why.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from './harness/processes.ts';
import { cutPeerTraffic } from './harness/faults.ts';
import { sandboxForTests } from './harness/sandbox.ts';
import {
  NS,
  SYNCER,
  bringUpExample,
  describeExample,
  waitEntriesEverywhere,
  setEntries,
  waitConverged,
} from './harness/e2e-example.ts';

const run = promisify(execFile);
const BIN = new URL('../bin/haproxy-peer-sync.ts', import.meta.url).pathname;
const sb = sandboxForTests();

/** The command as a user runs it; its exit code, output, and the table's rows by pod. */
async function status(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string; rows: Map<string, string[]> }> {
  const env = { ...process.env, KUBECONFIG: sb().controlPlane.kubeconfigPath };
  let out: { code: number; stdout: string; stderr: string };
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, 'status', ...args], { env, maxBuffer: 1 << 20 });
    out = { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    out = { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
  const rows = new Map<string, string[]>();
  for (const line of out.stdout.split('\n')) {
    const cells = line.split(/ {2,}/);
    if (cells[0]?.startsWith('haproxy-') === true) rows.set(cells[0], cells);
  }
  return { ...out, rows };
}

type StatusRun = Awaited<ReturnType<typeof status>>;

/**
 * Runs the command until `accept` takes its answer (the command is a snapshot: a user runs it again).
 * Returns the accepted answer and every answer before it; on a timeout the error carries the last output
 * and every replica's state.
 */
async function statusUntil<T>(
  args: readonly string[],
  accept: (s: StatusRun) => T | false,
  what: string,
  timeoutMs: number,
  intervalMs: number,
): Promise<{ value: T; before: string[] }> {
  const before: string[] = [];
  try {
    const value = await waitFor(
      async () => {
        const s = await status(...args);
        const v = accept(s);
        if (v === false) before.push(s.stdout + s.stderr);
        return v;
      },
      { what, timeoutMs, intervalMs },
    );
    return { value, before };
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast output:\n${before.at(-1) ?? ''}\n${await describeExample(sb())}`, {
      cause: err,
    });
  }
}

const KEYS = Array.from({ length: 50 }, (_, i) => `status-${i}`);

test('converged: one correct line per replica, as HAProxy itself tells it, and exit 0', async (t) => {
  await bringUpExample(sb());
  const replicas = await sb().replicas();
  await setEntries(sb(), replicas[0]?.pod ?? '', KEYS);
  await waitEntriesEverywhere(
    sb(),
    replicas.map((r) => r.pod),
    KEYS,
    'the entries on the 3 replicas',
  );

  // A peer link can drop for a moment on a busy node (HAProxy reconnects it within seconds): the command
  // is a snapshot, so a user runs it again. What it printed before agreeing is reported.
  const { value: byWorkload, before: disagreed } = await statusUntil(
    ['-n', NS, 'deployment/haproxy'],
    (s) => (s.code === 0 ? s : false),
    'status to exit 0 with the 3 converged replicas',
    30_000,
    1_000,
  );
  if (disagreed.length > 0) t.diagnostic(`not in agreement ${disagreed.length} time(s) first:\n${disagreed[0]}`);
  t.diagnostic(byWorkload.stdout);
  assert.match(byWorkload.stdout, /^service default\/haproxy · peers haproxy-peers$/m);
  assert.match(byWorkload.stdout, /^3 replicas: ready and in agreement$/m);
  assert.deepEqual([...byWorkload.rows.keys()].sort(), replicas.map((r) => r.pod).sort());
  for (const r of await sb().replicas()) {
    // POD READY PEERS LINKS ENTRIES LAST-RELOAD LAST-ERROR, against the pod's own master CLI.
    const [, ready, peers, links, entries, , lastError] = byWorkload.rows.get(r.pod) ?? [];
    const remotes = (r.peers ?? []).filter((p) => !p.local);
    assert.equal(ready, 'yes', r.pod);
    assert.equal(peers, `${(r.peers ?? []).length}/3`, r.pod);
    assert.equal(links, `${remotes.filter((p) => p.status === 'ESTA').length}/${remotes.length}`, r.pod);
    assert.equal(links, '2/2', r.pod);
    assert.equal(entries, String(r.tableEntries), r.pod);
    assert.equal(entries, String(KEYS.length), r.pod);
    assert.equal(lastError, '-', r.pod);
  }
  // The default selector (the inject label) finds the same pods; the namespace comes from the kubeconfig.
  const byLabel = await status();
  assert.equal(byLabel.code, 0, byLabel.stdout);
  assert.deepEqual([...byLabel.rows.keys()].sort(), [...byWorkload.rows.keys()].sort());
});

test('right after a scale-out, exit 1 while the newcomer is not yet taught, then 0 with four replicas', async (t) => {
  const old = new Set((await sb().replicas()).map((r) => r.pod));
  // Hold the newcomer back: with the old replicas' peer traffic cut (in their network namespaces; a
  // reload's old worker still teaches the new one over loopback) its start-up gate hears from none of
  // them, so HAProxy waits and it cannot be taught. Left alone it is taught within about a second, faster
  // than the command runs. (Pausing the old syncers instead also failed their readiness probes: with no
  // other replica Ready the gate opened, and the newcomer could end its resync untaught.)
  const pids = (await Promise.all([...old].map((p) => sb().containerPid(NS, p, SYNCER)))).filter(
    (p) => p !== undefined,
  );
  assert.equal(pids.length, 3);
  const heals = await Promise.all(pids.map((pid) => cutPeerTraffic(pid)));
  let caught: { pod: string; code: number; stdout: string } | undefined;
  try {
    await sb().kubectl('scale', 'deployment/haproxy', '--replicas=4');
    // A syncer not started yet may leave the apiserver's proxy waiting: a short timeout keeps each
    // sample short, so the newcomer is caught (and its peers healed) well before its gate gives up.
    caught = (
      await statusUntil(
        ['-n', NS, '--timeout', '1', 'deployment/haproxy'],
        (s) => {
          const fresh = [...s.rows.entries()].find(([pod]) => !old.has(pod));
          return fresh?.[1][1] === 'no' ? { pod: fresh[0], code: s.code, stdout: s.stdout } : false;
        },
        "the newcomer's syncer to answer, not ready",
        45_000,
        0,
      )
    ).value;
  } finally {
    for (const heal of heals) await heal();
  }
  t.diagnostic(`caught while not taught:\n${caught.stdout}`);
  assert.equal(caught.code, 1, caught.stdout);
  assert.match(caught.stdout, new RegExp(`^haproxy-\\S+ {2}no {5}`, 'm'), caught.stdout);
  assert.match(caught.stdout, new RegExp(`^ {2}${caught.pod}: not ready \\(`, 'm'), caught.stdout);
  assert.match(caught.stdout, /^not in agreement:$/m);

  await waitConverged(sb(), 4, 'after scaling to 4');
  const { value: after } = await statusUntil(
    ['-n', NS, 'deployment/haproxy'],
    (s) => (s.code === 0 ? s : false),
    'status to exit 0 with 4 replicas',
    60_000,
    500,
  );
  assert.equal(after.rows.size, 4);
  for (const cells of after.rows.values())
    assert.deepEqual(cells.slice(1, 4), ['yes', '4/4', '3/3'], cells.join(' | '));
});

test('bad usage exits 2 naming the flag', async () => {
  const bad = await status('--replicas', '3');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--replicas/);
  const missing = await status('-n', NS, 'deployment/nonexistent');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nonexistent/);
});
