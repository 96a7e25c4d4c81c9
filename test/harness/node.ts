/**
 * A real Kubernetes node for the lab: containerd (Debian's) with runc and the CNI bridge plugins, the
 * kubelet, kube-proxy (iptables) and kube-scheduler built from the Kubernetes modules, joined to a
 * control plane started with `nodeIp` (control-plane.ts). Images come from the archives that
 * scripts/build-images.sh writes (no registry is reachable) and are imported at start.
 *
 * Needs the lab (scripts/lab.sh): its own network namespace (the node address, the pod bridge and
 * kube-proxy's iptables rules live there) and mount namespace (tmpfs over /run, /var/lib, /var/log,
 * where containerd, runc and the kubelet write to fixed paths). The one thing the lab cannot hide is
 * cgroups: every cgroup of the node sits under a parent of its own that stop() removes, after draining
 * pods, removing containers and stopping the daemons, so nothing outlives the node.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { adminKubeconfig } from './control-plane-args.ts';
import { defaultBinDir, type ControlPlane } from './control-plane.ts';
import {
  cniConfig,
  containerdConfig,
  kubeletConfig,
  kubeProxyConfig,
  type HostTraits,
  type NodeDirs,
  type NodeNetwork,
} from './node-config.ts';
import { issueLeaf } from './pki.ts';
import { freePorts, spawnProcess, tailLog, waitFor, type ManagedProcess } from './processes.ts';

const run = promisify(execFile);

export const NODE_NAME = 'hps-node';
/** The pods' network: a /24 for this node's bridge inside the cluster's /16 (see scripts/lab.sh). */
export const NODE_NETWORK: Omit<NodeNetwork, 'nodeIp'> = {
  nodeName: NODE_NAME,
  podSubnet: '10.88.0.0/24',
  podGateway: '10.88.0.1',
  clusterCidr: '10.88.0.0/16',
  clusterDns: '10.0.0.10',
};

export interface NodeOptions {
  readonly logDir: string;
  /** Default `$HPS_CACHE/images/index.txt` (written by scripts/build-images.sh). */
  readonly imageIndex?: string;
}

/** A running node; `stop()` is idempotent. */
export interface KubeNode {
  readonly name: string;
  readonly ip: string;
  readonly dirs: NodeDirs;
  /** The image index the node imported (scripts/build-images.sh). */
  readonly imageIndex: string;
  /** The cgroup parent of every pod of this node (relative to each hierarchy's root). */
  readonly cgroupRoot: string;
  /** `ctr` against this node's containerd, in the CRI namespace `k8s.io`. */
  ctr(...args: string[]): Promise<string>;
  /** Path on the node of a pod's emptyDir volume (the test process shares the lab's mounts). */
  emptyDirPath(podUid: string, volume: string): string;
  /** Pids of the node's daemons (for leak checks). */
  pids(): number[];
  /**
   * Stops the kubelet and containerd (SIGTERM, as a node upgrade or a crash-looping daemon would) and
   * starts them again with the same configuration, while the pods keep running: containers live on in
   * their shims. Resolves once containerd answers, the new kubelet is healthy and the node is Ready.
   */
  restartDaemons(): Promise<void>;
  stop(): Promise<void>;
}

/** What this host allows, read from the kernel instead of assumed (docs/design.md, "The real node"). */
export async function hostTraits(): Promise<HostTraits> {
  const cgroupV1 = !existsSync('/sys/fs/cgroup/cgroup.controllers');
  // Lowering oom_score_adj needs CAP_SYS_RESOURCE; try it in a throwaway shell.
  const restrictOomScoreAdj = await run('sh', ['-c', 'echo -998 > /proc/self/oom_score_adj']).then(
    () => false,
    () => true,
  );
  return { cgroupV1, restrictOomScoreAdj };
}

/** Lines `<archive> <image name>` of the image index. */
export function readImageIndex(path: string): { archive: string; name: string }[] {
  if (!existsSync(path))
    throw new Error(`image index ${path} is missing (run: bash scripts/setup.sh, which builds the images)`);
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [archive = '', name = ''] = l.split(/\s+/);
      return { archive, name };
    });
}

export async function startNode(cp: ControlPlane, opts: NodeOptions): Promise<KubeNode> {
  const nodeIp = process.env['HPS_NODE_IP'];
  if (process.env['HPS_LAB_NETNS'] !== '1' || nodeIp === undefined) {
    throw new Error(
      'the node runs only inside the lab namespaces: run the command through `bash scripts/lab.sh <command>` (npm test does)',
    );
  }
  const binDir = defaultBinDir();
  const imageIndex = opts.imageIndex ?? join(binDir, '..', 'images', 'index.txt');
  const images = readImageIndex(imageIndex);
  // Named after the lab (scripts/lab.sh), which kills and removes what a crashed run left.
  const id = `${process.env['HPS_LAB_ID'] ?? 'x'}-${Math.random().toString(36).slice(2, 8)}`;
  // Under the lab's /var/lib tmpfs: image layers and pod volumes vanish with the lab even after a crash.
  const root = join('/var/lib', `hps-node-${id}`);
  const dirs: NodeDirs = {
    root,
    containerdRoot: join(root, 'containerd'),
    containerdState: join(root, 'containerd-state'),
    containerdSocket: join(root, 'containerd.sock'),
    cniConfDir: join(root, 'cni'),
    cniDataDir: join(root, 'cni-ipam'),
    kubeletRoot: join(root, 'kubelet'),
    podLogs: join(root, 'pod-logs'),
    volumePlugins: join(root, 'volume-plugins'),
  };
  const net: NodeNetwork = { ...NODE_NETWORK, nodeIp };
  const cgroupRoot = `/hps-node-${id}`;
  const procs: ManagedProcess[] = [];
  const ctr = async (...args: string[]): Promise<string> => {
    const { stdout } = await run('ctr', ['--address', dirs.containerdSocket, '--namespace', 'k8s.io', ...args], {
      maxBuffer: 16 << 20,
    });
    return stdout;
  };

  let stopped: Promise<void> | undefined;
  let restarting: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await restarting?.catch(() => {}); // never leave a just-restarted daemon behind
      const [kubelet, ...others] = [...procs].reverse();
      await kubelet?.stop(10_000);
      await drainContainers(ctr).catch(() => {});
      await Promise.all(others.map((p) => p.stop(5000)));
      await killStrays(dirs.containerdSocket);
      await unmountUnder(root);
      await rm(root, { recursive: true, force: true });
      removeCgroups(cgroupRoot);
    })());

  let startContainerd: (() => Promise<ManagedProcess>) | undefined;
  let startKubelet: (() => Promise<ManagedProcess>) | undefined;
  let kubeletHealthzUrl = '';
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const waitNodeReady = (kubelet: ManagedProcess): Promise<unknown> =>
    waitFor(
      async () => {
        const node = await core.readNode({ name: NODE_NAME });
        return (
          node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
          !(node.spec?.taints ?? []).some((t) => t.effect === 'NoSchedule')
        );
      },
      { what: `node ${NODE_NAME} Ready and schedulable`, timeoutMs: 90_000, process: kubelet },
    );

  const leases = cp.kubeConfig.makeApiClient(CoordinationV1Api);
  const leaseRenewed = async (): Promise<number> =>
    new Date(
      (await leases.readNamespacedLease({ namespace: 'kube-node-lease', name: NODE_NAME })).spec?.renewTime ?? 0,
    ).getTime();

  try {
    const host = await hostTraits();
    createCgroups(cgroupRoot);
    await Promise.all(
      [
        dirs.containerdRoot,
        dirs.containerdState,
        dirs.cniConfDir,
        dirs.cniDataDir,
        dirs.kubeletRoot,
        dirs.podLogs,
        dirs.volumePlugins,
      ].map((d) => mkdir(d, { recursive: true })),
    );
    const caPem = cp.caPem;
    const cert = async (name: string, subject: string, user: string): Promise<string> => {
      const files = await issueLeaf(cp.dir, cp.pki.ca, name, subject, 'clientAuth');
      const path = join(root, `${name}.kubeconfig`);
      const [certPem, keyPem] = [readFileSync(files.cert, 'utf8'), readFileSync(files.key, 'utf8')];
      await writeFile(path, adminKubeconfig(cp.server, { ca: caPem, cert: certPem, key: keyPem }, user), {
        mode: 0o600,
      });
      return path;
    };
    const [kubeletKc, proxyKc, schedulerKc] = await Promise.all([
      cert('kubelet', `/O=system:nodes/CN=system:node:${NODE_NAME}`, `system:node:${NODE_NAME}`),
      cert('kube-proxy', '/CN=system:kube-proxy', 'system:kube-proxy'),
      cert('kube-scheduler', '/CN=system:kube-scheduler', 'system:kube-scheduler'),
    ]);
    const [kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics, schedulerPort] = (await freePorts(5)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const resolvConf = join(root, 'resolv.conf');
    await Promise.all([
      writeFile(join(root, 'containerd.toml'), containerdConfig(dirs, host)),
      writeFile(join(dirs.cniConfDir, '10-hps-pods.conflist'), cniConfig(dirs, net)),
      // Pods with dnsPolicy Default would copy the host's resolvers, which lead nowhere from the lab.
      writeFile(resolvConf, 'nameserver 127.0.0.1\n'),
      writeFile(
        join(root, 'kubelet.yaml'),
        kubeletConfig(
          dirs,
          net,
          host,
          { port: kubeletPort, healthz: kubeletHealthz },
          { clientCaFile: cp.pki.ca.cert, resolvConf, cgroupRoot },
        ),
      ),
      writeFile(
        join(root, 'kube-proxy.yaml'),
        kubeProxyConfig(proxyKc, net, { healthz: proxyHealthz, metrics: proxyMetrics }),
      ),
    ]);

    startContainerd = async () => {
      const p = await spawnProcess({
        name: 'containerd',
        command: '/usr/bin/containerd',
        logDir: opts.logDir,
        args: ['--config', join(root, 'containerd.toml'), '--log-level', 'warn'],
      });
      await waitFor(() => ctr('version').then(() => true), { what: 'containerd', timeoutMs: 30_000, process: p }).catch(
        async (err: unknown) => {
          await p.stop();
          throw err;
        },
      );
      return p;
    };
    procs.push(await startContainerd());
    await importImages(ctr, images);

    const scheduler = await spawnProcess({
      name: 'kube-scheduler',
      command: join(binDir, 'kube-scheduler'),
      logDir: opts.logDir,
      args: [
        `--kubeconfig=${schedulerKc}`,
        '--leader-elect=false',
        `--secure-port=${schedulerPort}`,
        '--bind-address=127.0.0.1',
      ],
    });
    procs.push(scheduler);
    const proxy = await spawnProcess({
      name: 'kube-proxy',
      command: join(binDir, 'kube-proxy'),
      logDir: opts.logDir,
      args: [`--config=${join(root, 'kube-proxy.yaml')}`],
    });
    procs.push(proxy);
    startKubelet = () =>
      spawnProcess({
        name: 'kubelet',
        command: join(binDir, 'kubelet'),
        logDir: opts.logDir,
        args: [
          `--config=${join(root, 'kubelet.yaml')}`,
          `--kubeconfig=${kubeletKc}`,
          `--hostname-override=${NODE_NAME}`,
          `--node-ip=${nodeIp}`,
          `--root-dir=${dirs.kubeletRoot}`,
          `--cert-dir=${join(root, 'kubelet-pki')}`,
          '--v=1',
        ],
      });
    const kubelet = await startKubelet();
    procs.push(kubelet);
    kubeletHealthzUrl = `http://127.0.0.1:${kubeletHealthz}/healthz`;
    await waitNodeReady(kubelet);
  } catch (err) {
    const tails = await Promise.all(procs.map(async (p) => `--- ${p.name}\n${await tailLog(p.logPath, 15)}`));
    await stop();
    throw new Error(`node failed to start (logs in ${opts.logDir}): ${(err as Error).message}\n${tails.join('\n')}`, {
      cause: err,
    });
  }

  return {
    name: NODE_NAME,
    ip: nodeIp,
    dirs,
    imageIndex,
    cgroupRoot,
    ctr,
    emptyDirPath: (podUid, volume) =>
      join(dirs.kubeletRoot, 'pods', podUid, 'volumes', 'kubernetes.io~empty-dir', volume),
    pids: () => procs.map((p) => p.pid),
    restartDaemons() {
      restarting ??= (async () => {
        if (stopped !== undefined || startContainerd === undefined || startKubelet === undefined)
          throw new Error('the node is stopped');
        const [restartContainerd, restartKubelet] = [startContainerd, startKubelet];
        const restartedAt = Date.now();
        // Replaced in place: stop() relies on the order (the kubelet last, stopped first).
        const at = (name: string): number => procs.findIndex((p) => p.name === name);
        const kubeletAt = at('kubelet');
        const containerdAt = at('containerd');
        await procs[kubeletAt]?.stop(10_000);
        await procs[containerdAt]?.stop(10_000);
        procs[containerdAt] = await restartContainerd();
        const kubelet = await restartKubelet();
        procs[kubeletAt] = kubelet;
        // The node object stays Ready through a short restart: wait for the new kubelet itself, healthy
        // and renewing the node's Lease (every 10 s), so it has taken over from the old one.
        await waitFor(async () => (await fetch(kubeletHealthzUrl, { signal: AbortSignal.timeout(2000) })).ok, {
          what: 'the restarted kubelet /healthz',
          timeoutMs: 60_000,
          process: kubelet,
        });
        await waitFor(async () => (await leaseRenewed()) > restartedAt, {
          what: 'the restarted kubelet to renew its Lease',
          timeoutMs: 60_000,
          process: kubelet,
        });
        await waitNodeReady(kubelet);
      })().finally(() => {
        restarting = undefined;
      });
      return restarting;
    },
    stop,
  };
}

/** Imports every archive of the index that containerd does not hold yet (under the name pods use). */
async function importImages(
  ctr: (...args: string[]) => Promise<string>,
  images: { archive: string; name: string }[],
): Promise<void> {
  const present = new Set((await ctr('images', 'ls', '-q')).split('\n'));
  for (const { archive, name } of images) {
    if (present.has(name)) continue;
    if (!existsSync(archive))
      throw new Error(`image archive ${archive} (${name}) is missing (run: bash scripts/setup.sh)`);
    await ctr('images', 'import', '--no-unpack=false', archive);
    if (!(await ctr('images', 'ls', '-q')).split('\n').includes(name)) {
      throw new Error(`importing ${archive} did not produce the image ${name}`);
    }
  }
}

/** Kills every container task of the node (TERM, then KILL) and removes the containers and sandboxes. */
async function drainContainers(ctr: (...args: string[]) => Promise<string>): Promise<void> {
  const tasks = (await ctr('tasks', 'ls', '-q')).split('\n').filter(Boolean);
  await Promise.all(tasks.map((t) => ctr('tasks', 'kill', '--signal', 'SIGTERM', t).catch(() => {})));
  await waitFor(async () => (await ctr('tasks', 'ls', '-q')).trim() === '' || undefined, {
    what: 'containers to stop',
    timeoutMs: 3000,
  }).catch(async () => {
    const left = (await ctr('tasks', 'ls', '-q')).split('\n').filter(Boolean);
    await Promise.all(left.map((t) => ctr('tasks', 'kill', '--all', '--signal', 'SIGKILL', t).catch(() => {})));
  });
  const containers = (await ctr('containers', 'ls', '-q')).split('\n').filter(Boolean);
  for (const c of containers) {
    await ctr('tasks', 'delete', '--force', c).catch(() => {});
    await ctr('containers', 'delete', c).catch(() => {});
  }
}

/** Shims outlive containerd by design; any left of this node's are killed. */
async function killStrays(containerdSocket: string): Promise<void> {
  const { stdout } = await run('pgrep', ['-f', `containerd-shim.*${containerdSocket}`]).catch(() => ({ stdout: '' }));
  for (const pid of stdout.split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
}

/**
 * Unmounts everything mounted under `dir`, deepest first: overlay snapshots, the pods' netns and
 * tmpfs volumes, and the kubelet's bind mount of its own root dir.
 */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((m) => m.replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
  for (const m of [...new Set(mounts)].sort((a, b) => b.length - a.length))
    await run('umount', ['--lazy', m]).catch(() => {});
}

/** Every cgroup hierarchy's root: the unified one on v2, each controller's (and `systemd`) on v1. */
function cgroupHierarchies(): string[] {
  const base = '/sys/fs/cgroup';
  if (existsSync(join(base, 'cgroup.controllers'))) return [base];
  return readdirSync(base, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.isSymbolicLink())
    .map((e) => join(base, e.name));
}

/**
 * Creates the node's cgroup parent in every hierarchy (the kubelet refuses a cgroupRoot that does not
 * exist). On v1 a new cpuset cgroup starts with no CPUs and no memory nodes: it gets its parent's.
 */
function createCgroups(cgroupRoot: string): void {
  for (const h of cgroupHierarchies()) {
    const dir = join(h, cgroupRoot);
    mkdirSync(dir, { recursive: true });
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (existsSync(join(dir, f)) && readFileSync(join(dir, f), 'utf8').trim() === '') {
        writeFileSync(join(dir, f), readFileSync(join(h, f), 'utf8'));
      }
    }
  }
}

/** Removes the node's cgroup parent from every hierarchy, deepest first (they are empty by now). */
function removeCgroups(cgroupRoot: string): void {
  const hierarchies = cgroupHierarchies();
  const removeTree = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      /* a process still inside: reported by the leak check */
    }
  };
  for (const h of hierarchies) removeTree(join(h, cgroupRoot));
}
