/**
 * A real Kubernetes control plane on 127.0.0.1 for tests: etcd, kube-apiserver and
 * kube-controller-manager from the project's cached binaries, started the way controller-runtime's
 * envtest starts them (own CA, admin client cert, service-account signing key), on ephemeral ports so
 * several can run at once. There is no scheduler and no kubelet: see kubelet.ts for the stand-in.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import {
  adminKubeconfig,
  apiserverArgs,
  controllerManagerArgs,
  DEFAULT_CONTROLLERS,
  etcdArgs,
  type ApiserverSettings,
  type ControlPlanePorts,
} from './control-plane-args.ts';
import { healthy, type ProbeTls } from './control-plane-health.ts';
import { createPki, type Pki } from './pki.ts';
import { freePorts, removeOnExit, spawnProcess, waitFor, type ManagedProcess } from './processes.ts';

/** Options of {@link startControlPlane}; every field has a default. */
export interface ControlPlaneOptions {
  /** Where etcd, kube-apiserver and kube-controller-manager live. Default: `$HPS_BIN`, else the cache. */
  readonly binDir?: string;
  /** kube-controller-manager's `--controllers`. Default: {@link DEFAULT_CONTROLLERS}. */
  readonly controllers?: readonly string[];
  /** Default `10.0.0.0/24`. */
  readonly serviceClusterIpRange?: string;
  /** Extra kube-apiserver flags (e.g. feature gates). */
  readonly apiserverArgs?: readonly string[];
  /**
   * The lab node's address (`HPS_NODE_IP`, set by scripts/lab.sh), when a real node will join: see
   * {@link ApiserverSettings.nodeIp}. Default: none (the apiserver listens on 127.0.0.1 only).
   */
  readonly nodeIp?: string;
  /** Extra kube-controller-manager flags. */
  readonly controllerManagerArgs?: readonly string[];
  /** Budget for each process to become healthy. Default 60 s (cold start is ~10 s on 2 cores). */
  readonly startTimeoutMs?: number;
  /** Keep the temp dir (logs, certs, etcd data) after a clean `stop()`. A failed start always keeps logs. */
  readonly keepDir?: boolean;
  /** Aborting it stops a start in progress: every process started so far ends and the temp dir goes. */
  readonly signal?: AbortSignal;
}

/** A running control plane. Everything is on 127.0.0.1; `stop()` is idempotent. */
export interface ControlPlane {
  /** Temp dir with the logs (`*.log`), certs and etcd data of this control plane. */
  readonly dir: string;
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** A client-node config authenticated as admin (group system:masters). */
  readonly kubeConfig: KubeConfig;
  /** Absolute path of the same config as a file, for `kubectl --kubeconfig`. */
  readonly kubeconfigPath: string;
  /** The cluster CA (PEM): it signed the apiserver's serving cert; webhooks can use it too. */
  readonly caPem: string;
  readonly pki: Pki;
  /** The private key that signs service-account tokens, and the issuer tokens must carry. */
  readonly serviceAccountKeyPath: string;
  readonly serviceAccountPublicKeyPath: string;
  readonly serviceAccountIssuer: string;
  /** Log file of each process. */
  readonly logs: { readonly etcd: string; readonly apiserver: string; readonly controllerManager: string };
  /** Pids of this control plane's processes that were ever started (for leak checks). */
  pids(): number[];
  /**
   * Stops kube-apiserver and starts it again on the same port and etcd; resolves once it is ready.
   * `downMs`: how long it stays down in between (an outage rather than a quick restart); `onDown` is
   * called once it is down, before that wait.
   */
  restartApiserver(opts?: { readonly downMs?: number; readonly onDown?: () => void }): Promise<void>;
  /**
   * Compacts etcd at its current revision, as the apiserver does every 5 minutes: every older revision is
   * gone, so a watch or list asking for one gets `410 Gone` from etcd. Returns that revision.
   */
  compactEtcd(): Promise<number>;
  /** Creates a namespace and waits for its `default` ServiceAccount, without which pods are refused. */
  createNamespace(name: string, labels?: Record<string, string>): Promise<void>;
  /** Stops every process (controller-manager and apiserver, then etcd), even after a failed start. */
  stop(): Promise<void>;
}

/**
 * Starts etcd, then kube-apiserver (waits for `/readyz`), then kube-controller-manager (waits for
 * `/healthz`) and the `default` ServiceAccount of the `default` namespace. On any failure it stops what
 * it started and throws an error naming the log dir.
 * https://book.kubebuilder.io/reference/envtest.html
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = opts.binDir ?? defaultBinDir();
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const dir = await mkdtemp(join(tmpdir(), 'hps-control-plane-'));
  const procs: Partial<Record<'etcd' | 'apiserver' | 'controllerManager', ManagedProcess>> = {};
  const everPids = new Set<number>();
  const track = (key: keyof typeof procs, p: ManagedProcess): ManagedProcess => {
    procs[key] = p;
    everPids.add(p.pid);
    return p;
  };
  // Not memoised: a process started after an earlier call (abort during start-up) is stopped by the
  // next one. Each process's own stop() is idempotent.
  const stopProcesses = async (): Promise<void> => {
    await Promise.all([procs.controllerManager?.stop(), procs.apiserver?.stop()]);
    await procs.etcd?.stop();
  };
  const signal = opts.signal;
  const onAbort = (): void => void stopProcesses();
  signal?.addEventListener('abort', onAbort, { once: true });
  // Waits during start-up give up on abort; later waits (restart, namespaces) do not depend on it.
  const wait = { timeoutMs, signal };
  const later = { timeoutMs };
  let forgetEtcdData = (): void => {};

  try {
    signal?.throwIfAborted();
    const serviceClusterIpRange = opts.serviceClusterIpRange ?? '10.0.0.0/24';
    const [pki, portList] = await Promise.all([
      createPki(dir, {
        kubernetesServiceIp: firstServiceIp(serviceClusterIpRange),
        extraIps: opts.nodeIp === undefined ? [] : [opts.nodeIp],
      }),
      freePorts(4),
    ]);
    const [etcdClient, etcdPeer, apiserver, controllerManager] = portList as [number, number, number, number];
    const ports: ControlPlanePorts = { etcdClient, etcdPeer, apiserver, controllerManager };
    const server = `https://127.0.0.1:${ports.apiserver}`;
    const caPem = pki.caPem;
    const [adminCert, adminKey] = await Promise.all([
      readFile(pki.admin.cert, 'utf8'),
      readFile(pki.admin.key, 'utf8'),
    ]);
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, adminKubeconfig(server, { ca: caPem, cert: adminCert, key: adminKey }), {
      mode: 0o600,
    });
    const adminTls: ProbeTls = { ca: caPem, cert: adminCert, key: adminKey };

    const etcdData = join(dir, 'etcd-data');
    await mkdir(etcdData, { mode: 0o700 });
    forgetEtcdData = removeOnExit(etcdData);
    signal?.throwIfAborted();
    const etcd = track(
      'etcd',
      await spawnProcess({ name: 'etcd', command: join(binDir, 'etcd'), args: etcdArgs(ports, etcdData), logDir: dir }),
    );
    await waitFor(healthy(`http://127.0.0.1:${ports.etcdClient}/health`, undefined, '"health":"true"'), {
      ...wait,
      what: 'etcd /health',
      process: etcd,
    });

    const settings: ApiserverSettings = {
      serviceClusterIpRange,
      serviceAccountIssuer: server,
      extraArgs: opts.apiserverArgs ?? [],
      nodeIp: opts.nodeIp,
    };
    const startApiserver = async (w: { timeoutMs: number; signal?: AbortSignal | undefined }): Promise<void> => {
      w.signal?.throwIfAborted();
      const p = track(
        'apiserver',
        await spawnProcess({
          name: 'kube-apiserver',
          command: join(binDir, 'kube-apiserver'),
          args: apiserverArgs(ports, pki, settings),
          logDir: dir,
        }),
      );
      await waitFor(healthy(`${server}/readyz`, adminTls), { ...w, what: 'kube-apiserver /readyz', process: p });
    };
    await startApiserver(wait);

    signal?.throwIfAborted();
    const kcm = track(
      'controllerManager',
      await spawnProcess({
        name: 'kube-controller-manager',
        command: join(binDir, 'kube-controller-manager'),
        args: controllerManagerArgs(
          ports,
          pki,
          kubeconfigPath,
          opts.controllers ?? DEFAULT_CONTROLLERS,
          opts.controllerManagerArgs ?? [],
        ),
        logDir: dir,
      }),
    );
    await waitFor(healthy(`https://127.0.0.1:${ports.controllerManager}/healthz`, { ca: caPem }), {
      ...wait,
      what: 'kube-controller-manager /healthz',
      process: kcm,
    });

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const waitForDefaultServiceAccount = (namespace: string, w: typeof later): Promise<true> =>
      waitFor(
        async () => {
          await core.readNamespacedServiceAccount({ name: 'default', namespace });
          return true as const;
        },
        { ...w, what: `ServiceAccount ${namespace}/default (serviceaccount-controller)`, process: kcm },
      );
    await waitForDefaultServiceAccount('default', wait);
    signal?.throwIfAborted();
    signal?.removeEventListener('abort', onAbort);

    let restarting: Promise<void> | undefined;
    let stopped = false;
    return {
      dir,
      server,
      kubeConfig,
      kubeconfigPath,
      caPem,
      pki,
      serviceAccountKeyPath: pki.serviceAccountKey,
      serviceAccountPublicKeyPath: pki.serviceAccountPublicKey,
      serviceAccountIssuer: settings.serviceAccountIssuer,
      logs: { etcd: etcd.logPath, apiserver: join(dir, 'kube-apiserver.log'), controllerManager: kcm.logPath },
      pids: () => [...everPids],
      restartApiserver(restart = {}) {
        restarting ??= (async () => {
          if (stopped) throw new Error('control plane is stopped');
          await procs.apiserver?.stop();
          restart.onDown?.();
          if (restart.downMs !== undefined) await sleep(restart.downMs);
          if (stopped) throw new Error('control plane stopped during the apiserver restart');
          await startApiserver(later);
        })().finally(() => {
          restarting = undefined;
        });
        return restarting;
      },
      async compactEtcd() {
        // etcd's v3 JSON gateway (no etcdctl needed): read the current revision, then compact at it.
        const etcdApi = async (path: string, body: unknown): Promise<unknown> => {
          const res = await fetch(`http://127.0.0.1:${ports.etcdClient}${path}`, {
            method: 'POST',
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(10_000),
          });
          if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
          return res.json();
        };
        const range = (await etcdApi('/v3/kv/range', {
          key: Buffer.from('\0').toString('base64'),
          count_only: true,
        })) as { header?: { revision?: string } };
        const revision = Number(range.header?.revision);
        if (!Number.isInteger(revision) || revision <= 0)
          throw new Error(`etcd answered no revision: ${JSON.stringify(range)}`);
        await etcdApi('/v3/kv/compaction', { revision: String(revision), physical: true });
        return revision;
      },
      async createNamespace(name, labels) {
        await core.createNamespace({ body: { metadata: { name, ...(labels ? { labels } : {}) } } });
        await waitForDefaultServiceAccount(name, later);
      },
      async stop() {
        stopped = true;
        await restarting?.catch(() => {}); // never leave a just-restarted apiserver behind
        await stopProcesses();
        if (!opts.keepDir) await rm(dir, { recursive: true, force: true });
        forgetEtcdData();
      },
    };
  } catch (err) {
    signal?.removeEventListener('abort', onAbort);
    await stopProcesses();
    if (signal?.aborted) {
      await rm(dir, { recursive: true, force: true });
      forgetEtcdData();
      throw signal.reason;
    }
    // Keep the logs for the person reading the failure; drop etcd's data (preallocated WAL, 64 MB).
    await rm(join(dir, 'etcd-data'), { recursive: true, force: true });
    forgetEtcdData();
    throw new Error(`control plane failed to start (logs in ${dir}): ${(err as Error).message}`, { cause: err });
  }
}

/** `$HPS_BIN` (set by scripts/node.sh), else `$XDG_CACHE_HOME/haproxy-peer-sync/bin`, else `~/.cache/…`. */
export function defaultBinDir(): string {
  const env = process.env;
  if (env['HPS_BIN']) return env['HPS_BIN'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'haproxy-peer-sync', 'bin');
}

/** The ClusterIP of the `kubernetes` Service: the first address after the network address. */
function firstServiceIp(cidr: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`service CIDR ${cidr} is not an IPv4 CIDR`);
  const n = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const first = (n + 1) >>> 0;
  return [first >>> 24, (first >>> 16) & 255, (first >>> 8) & 255, first & 255].join('.');
}
