/**
 * The HAProxy images as users run them, on the real node: a labelled Deployment of `haproxy:2.6` and of
 * `haproxy:3.0` with no securityContext at all (HAProxy runs as the image's user, uid 99, the syncer as
 * ours) and no command (3.0: only args), injected by the webhook from deploy/. Each must become Ready, mesh and replicate its table,
 * with every container running as the kernel says it should and nothing restarted or OOM-killed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { waitFor } from './harness/processes.ts';
import { sandboxForTests } from './harness/sandbox.ts';
import { HAPROXY_IMAGES, SYNCER, startWorkload, type HaproxyBranch, type Workload } from './harness/workload.ts';

const sb = sandboxForTests({ webhook: true });

/** uid, gid and effective capabilities of a host process, from /proc. */
async function identity(pid: number): Promise<{ uid: string; groups: string; capEff: string }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  return { uid: field('Uid').split(/\s+/)[0] ?? '', groups: field('Groups'), capEff: field('CapEff') };
}

/**
 * What a user's Deployment sets besides the image: on 2.6 nothing at all (the webhook writes HAProxy's
 * command), on 3.0 only `args` (the image's entrypoint runs haproxy with them, as with the official image).
 */
const ARGS: Record<HaproxyBranch, readonly string[] | undefined> = {
  '2.6': undefined,
  '3.0': ['-f', '/usr/local/etc/haproxy/haproxy.cfg'],
};

for (const branch of Object.keys(HAPROXY_IMAGES) as HaproxyBranch[]) {
  const args = ARGS[branch];
  describe(`haproxy:${branch} with no securityContext and ${args === undefined ? 'no command or args' : `only args ${args.join(' ')}`}`, () => {
    let workload: Workload | undefined;
    const wl = (): Workload => {
      if (workload === undefined) throw new Error('no workload');
      return workload;
    };
    before(async () => {
      workload = await startWorkload(sb(), {
        replicas: 3,
        haproxy: branch,
        securityContext: false,
        name: `plain${branch.replace('.', '')}`,
        ...(args === undefined ? {} : { args }),
      });
    });
    after(async () => {
      await workload?.delete();
    });

    test('every replica is injected, Ready, and replicates its table', async () => {
      const pods = await wl().waitConverged(3);
      await wl().waitReady(pods.map((p) => p.name));
      const [first] = pods;
      assert.ok(first);
      await first.setTable(`plain-${branch}`, 7);
      for (const p of pods) {
        await waitFor(async () => (await p.showTable()).get(`plain-${branch}`), {
          what: `the entry on ${p.name}`,
          timeoutMs: 30_000,
        });
      }
      const version = await first.masterCli('show version');
      assert.match(
        version,
        new RegExp(`^${branch.replace('.', '\\.')}\\.`, 'm'),
        `the pod runs HAProxy ${branch}: ${version}`,
      );
    });

    test("HAProxy runs as the image's user, the syncer as ours, both in the shared group, without capabilities", async () => {
      for (const p of await wl().pods()) {
        const haproxyPid = await sb().containerPid(wl().namespace, p.name, 'haproxy');
        const syncerPid = await p.syncerPid();
        assert.ok(haproxyPid !== undefined && syncerPid !== undefined, `${p.name}: both containers run`);
        const h = await identity(haproxyPid);
        const s = await identity(syncerPid);
        assert.equal(h.uid, '99', `${p.name}: HAProxy's uid is the image's USER haproxy`);
        assert.equal(s.uid, '65532', `${p.name}: the syncer's uid`);
        assert.match(h.groups, /\b65532\b/, `${p.name}: HAProxy is in the shared group`);
        assert.match(s.capEff, /^0+$/, `${p.name}: the syncer has no capabilities`);
      }
    });

    test('no container restarted or was OOM-killed', async () => {
      for (const p of await wl().pods()) {
        for (const c of ['haproxy', SYNCER]) {
          const status = await sb().containerStatus(wl().namespace, p.name, c);
          assert.equal(status?.restartCount, 0, `${p.name}/${c} restarts (last: ${JSON.stringify(status?.lastState)})`);
        }
      }
    });
  });
}
