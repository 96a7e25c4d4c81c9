/**
 * kubectl from the host: the apiserver listens inside the lab's network namespace, so a relay listens
 * on the host's loopback and carries each connection into the lab. The host's network namespace is the
 * one of scripts/lab.sh itself (it waits outside for the lab to end; its pid is HPS_LAB_ID); socat (one
 * per connection, `fork`) does the carrying.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminKubeconfig } from './control-plane-args.ts';
import type { ControlPlane } from './control-plane.ts';
import { spawnProcess, tailLog, type ManagedProcess } from './processes.ts';

export interface HostRelay {
  /** A kubeconfig for plain `kubectl` on the host. */
  readonly kubeconfigPath: string;
  readonly process: ManagedProcess;
}

/** Starts the relay on the host's 127.0.0.1 at the apiserver's own port number, or throws why not. */
export async function startHostRelay(cp: ControlPlane, logDir: string): Promise<HostRelay> {
  const hostNetns = hostNetnsPath();
  const port = Number(new URL(cp.server).port);
  const intoLab = `nsenter --net=/proc/${process.pid}/ns/net socat STDIO TCP:127.0.0.1:${port}`;
  const relay = await spawnProcess({
    name: 'kubectl-relay',
    command: '/usr/bin/nsenter',
    logDir,
    args: [
      `--net=${hostNetns}`,
      'socat',
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
      `EXEC:${intoLab.replaceAll(':', '\\:')}`,
    ],
  });
  await sleep(300);
  if (!relay.isRunning())
    throw new Error(
      `the kubectl relay on the host's 127.0.0.1:${port} did not start: ${await tailLog(relay.logPath, 5)}`,
    );
  const kubeconfigPath = join(cp.dir, 'kubeconfig-host');
  await writeFile(
    kubeconfigPath,
    adminKubeconfig(`https://127.0.0.1:${port}`, {
      ca: cp.caPem,
      cert: await readFile(cp.pki.admin.cert, 'utf8'),
      key: await readFile(cp.pki.admin.key, 'utf8'),
    }),
    { mode: 0o600 },
  );
  return { kubeconfigPath, process: relay };
}

/** The host's network namespace as a path for `nsenter --net=`, or throws when not run through scripts/lab.sh. */
export function hostNetnsPath(): string {
  const path = `/proc/${process.env['HPS_LAB_ID'] ?? '-'}/ns/net`;
  if (!existsSync(path))
    throw new Error(`no handle on the host's network namespace (${path}); start through scripts/lab.sh`);
  return path;
}
