/**
 * The syncer lab: a real control plane, the kubelet stand-in, a headless Service and a Deployment whose
 * pods each run — as real processes on the pod's 10.244.x.y address (the lab network) — one HAProxy (2.6
 * or 3.0: `haproxyVersion`) and one syncer (the real CLI, `node bin/haproxy-peer-sync.ts syncer`),
 * sharing a runtime directory like the pod's volume.
 *
 * The pod's readiness is the syncer's /readyz, as a readiness probe on the sidecar would make it.
 * Everything started here is stopped by `stop()`, and by the harnesses' exit hooks on a crash.
 */
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { startKubelet, type Kubelet } from './kubelet.ts';
import { spawnProcess, tailLog, type ExitInfo, type ManagedProcess } from './processes.ts';
import { DEFAULT_HAPROXY_VERSION, haproxyBinary, startHaproxy, waitFor, type HaproxyReplica, type HaproxyVersion } from './haproxy.ts';
import { isEstablished } from '../../syncer/show-peers.ts';
import { createLogger } from '../../common/logger.ts';
import { pino } from 'pino';

const ROOT = resolve(import.meta.dirname, '../..');
export const HEALTH_PORT = 8585;

export interface LabOptions {
  readonly replicas: number;
  /** Deployment / Service name; default `web`. */
  readonly name?: string;
  /** Extra syncer flags (e.g. `--coalesce-window=…`). */
  readonly syncerArgs?: readonly string[];
  /**
   * When true, a pod's HAProxy is not started with it: the test calls `pod.startHaproxy()` whenever it
   * likes (bypassing the start-up gate). Default false: HAProxy starts once the syncer's /startupz
   * answers 200, as the kubelet starts a pod's containers after its native sidecar's startupProbe.
   */
  readonly deferHaproxy?: boolean;
  /** The CLI the syncers run; default the TypeScript sources (the bench passes the compiled dist/). */
  readonly syncerEntry?: string;
  /** Which HAProxy every pod runs (default 2.6; see HAPROXY_VERSIONS). */
  readonly haproxyVersion?: HaproxyVersion;
}

/** One pod of the lab. */
export interface LabPod {
  readonly name: string;
  readonly ip: string;
  readonly dir: string;
  readonly syncer: ManagedProcess;
  /** Undefined until HAProxy runs. */
  haproxy: HaproxyReplica | undefined;
  /** Starts HAProxy on the syncer's peers file (idempotent). */
  startHaproxy(): Promise<HaproxyReplica>;
  /** GET /readyz status code (0 when the server does not answer). */
  readyz(): Promise<number>;
  /** GET /startupz status code (0 when the server does not answer). */
  startupz(): Promise<number>;
  /** GET /metrics body. */
  metrics(): Promise<string>;
  /** Resident memory of the syncer process in MB (VmRSS, from /proc). */
  rssMb(): number;
  /** Its private anonymous memory in MB (RssAnon): excludes the shared, file-backed Node binary. */
  privateMb(): number;
  /** Proportional set size: private memory plus this process's share of the pages it shares. */
  pssMb(): number;
  /** The syncer's log so far. */
  log(): string;
  /** When the harness spawned its syncer (Date.now()). */
  readonly startedAt: number;
  /** Set once the syncer exited (after the pod's deletion). */
  syncerExit: ExitInfo | undefined;
}

export interface Lab {
  readonly controlPlane: ControlPlane;
  readonly kubelet: Kubelet;
  readonly namespace: string;
  readonly name: string;
  /** The HAProxy version every pod runs. */
  readonly haproxyVersion: HaproxyVersion;
  /** Live pods (bound and not yet deleted), by name. */
  readonly pods: Map<string, LabPod>;
  /** Every pod ever started, deleted ones included (for exit codes). */
  readonly allPods: LabPod[];
  /** Sets the Deployment's replicas. */
  scale(replicas: number): Promise<void>;
  /** Waits until the Service's EndpointSlices show these pods as ready endpoints. */
  waitReadyEndpoints(names: readonly string[], timeoutMs?: number): Promise<void>;
  /** Waits until exactly `n` pods run HAProxy and every one lists exactly the others, all ESTA. */
  waitConverged(n: number, timeoutMs?: number): Promise<LabPod[]>;
  stop(): Promise<void>;
}

/**
 * Pod addresses cannot be loopback (kube-apiserver refuses 127.0.0.0/8 in EndpointSlices, see
 * kubelet.ts), yet every pod's HAProxy must bind its own address on this host: a `local` route makes
 * the whole of POD_CIDR local, as 127.0.0.0/8 is. Idempotent; needs root (CAP_NET_ADMIN).
 */
export const POD_CIDR = '10.244.0.0/16';
export function ensurePodNetwork(): void {
  // Only inside the lab network namespace (scripts/lab.sh): a private range made local in the host's own
  // namespace would look like traffic to a real private network.
  const routes = process.env.HPS_LAB_NETNS === '1' ? execFileSync('ip', ['route', 'show', 'table', 'local'], { encoding: 'utf8' }) : '';
  if (routes.split('\n').some((l) => l.startsWith(`local ${POD_CIDR} `))) return;
  throw new Error(`the pod network ${POD_CIDR} exists only in the lab network namespace: run the command through \`bash scripts/lab.sh <command>\` (npm test does)`);
}

function procStatusMb(pid: number, field: string, file = 'status'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Is this set of pods fully meshed: each section lists exactly the set, every remote link ESTA? */
export async function meshed(pods: readonly LabPod[]): Promise<boolean> {
  const names = pods.map((p) => p.name).sort().join(',');
  for (const p of pods) {
    if (p.haproxy === undefined) return false;
    const s = await p.haproxy.showPeers().catch(() => undefined);
    if (s === undefined) return false;
    if (s.peers.map((x) => x.name).sort().join(',') !== names) return false;
    if (s.peers.filter((x) => !x.local).some((x) => !isEstablished(x))) return false;
  }
  return true;
}

/** Starts the control plane, the stand-in and the workload; resolves once `replicas` pods are meshed. */
export async function startLab(opts: LabOptions): Promise<Lab> {
  const name = opts.name ?? 'web';
  const namespace = `hps-${Math.random().toString(36).slice(2, 8)}`;
  const haproxyVersion = opts.haproxyVersion ?? DEFAULT_HAPROXY_VERSION;
  haproxyBinary(haproxyVersion); // a missing binary fails here, before a control plane starts
  ensurePodNetwork();
  // A /24 of our own: parallel test files must not share peer/health ports on one address.
  const addressBase = `10.244.${10 + Math.floor(Math.random() * 240)}.10`;
  const logDir = mkdtempSync(join(tmpdir(), 'hps-lab-'));
  const pods = new Map<string, LabPod>();
  const allPods: LabPod[] = [];
  const lastReady = new Map<string, boolean>();
  const backgroundErrors: string[] = [];
  const controlPlane = await startControlPlane();
  let kubelet: Kubelet | undefined;

  const startPod = async (pod: V1Pod, ip: string): Promise<void> => {
    const podName = pod.metadata?.name ?? '';
    if (pods.has(podName)) return;
    const dir = mkdtempSync(join(tmpdir(), `hps-pod-${podName}-`));
    const syncer = await spawnProcess({
      name: `syncer-${podName}`, logDir, command: process.execPath, cwd: ROOT,
      args: [opts.syncerEntry ?? join(ROOT, 'bin/haproxy-peer-sync.ts'), 'syncer',
        `--service=${name}`, `--namespace=${namespace}`, `--pod-name=${podName}`, `--pod-ip=${ip}`,
        `--runtime-dir=${dir}`, `--kubeconfig=${controlPlane.kubeconfigPath}`,
        `--health-address=${ip}`, `--health-port=${HEALTH_PORT}`, ...(opts.syncerArgs ?? [])],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    });
    let starting: Promise<HaproxyReplica> | undefined;
    const labPod: LabPod = {
      name: podName, ip, dir, syncer, haproxy: undefined, syncerExit: undefined, startedAt: Date.now(),
      startHaproxy: () => starting ??= (async () => {
        await waitFor(`${podName}'s first peers file`, () => (existsSync(join(dir, 'peers.cfg')) ? true : undefined), 20_000);
        labPod.haproxy = await startHaproxy({ name: podName, ip, dir, version: haproxyVersion });
        return labPod.haproxy;
      })(),
      readyz: async () => (await fetch(`http://${ip}:${HEALTH_PORT}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status ?? 0,
      startupz: async () => (await fetch(`http://${ip}:${HEALTH_PORT}/startupz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status ?? 0,
      metrics: async () => (await fetch(`http://${ip}:${HEALTH_PORT}/metrics`)).text(),
      rssMb: () => procStatusMb(syncer.pid, 'VmRSS'),
      privateMb: () => procStatusMb(syncer.pid, 'RssAnon'),
      pssMb: () => procStatusMb(syncer.pid, 'Pss', 'smaps_rollup'),
      log: () => (existsSync(syncer.logPath) ? readFileSync(syncer.logPath, 'utf8') : ''),
    };
    pods.set(podName, labPod);
    allPods.push(labPod);
    // Not awaited: a real kubelet publishes the pod IP once the sandbox is up, before the containers
    // are ready, so the endpoint (not ready) appears while HAProxy is still starting.
    // The HAProxy container starts once the sidecar's startup probe (/startupz) passes, as a kubelet
    // does for a native sidecar with a startupProbe.
    if (!opts.deferHaproxy) {
      waitFor(`${podName} /startupz`, async () => ((await labPod.startupz()) === 200 ? true : undefined), 60_000, 50)
        .then(() => labPod.startHaproxy())
        .catch((err: unknown) => { backgroundErrors.push(`${podName}: ${(err as Error).message}`); });
    }
  };

  const stopPod = async (pod: V1Pod): Promise<void> => {
    const p = pods.get(pod.metadata?.name ?? '');
    if (p === undefined) return;
    pods.delete(p.name);
    p.syncerExit = await p.syncer.stop();
    await p.haproxy?.stop();
    rmSync(p.dir, { recursive: true, force: true });
  };

  const stop = async (): Promise<void> => {
    await kubelet?.stop();
    for (const p of allPods) {
      p.syncerExit ??= await p.syncer.stop();
      await p.haproxy?.stop();
      rmSync(p.dir, { recursive: true, force: true });
    }
    pods.clear();
    await controlPlane.stop();
    rmSync(logDir, { recursive: true, force: true });
  };

  try {
    await controlPlane.createNamespace(namespace);
    kubelet = await startKubelet(controlPlane.kubeConfig, {
      addressBase,
      // Its warnings during an apiserver restart are expected here; errors still show.
      logger: createLogger('kubelet-standin', 'error', pino.destination(2)),
      onPodBound: startPod,
      onPodDeleting: stopPod,
      readiness: async (pod) => {
        // Like a probe with failureThreshold > 1: an unanswered probe keeps the last verdict.
        const p = pods.get(pod.metadata?.name ?? '');
        if (p === undefined) return false;
        const code = await p.readyz();
        if (code !== 0) lastReady.set(p.name, code === 200);
        return lastReady.get(p.name) ?? false;
      },
    });
    const core = controlPlane.kubeConfig.makeApiClient(CoreV1Api);
    const apps = controlPlane.kubeConfig.makeApiClient(AppsV1Api);
    const discovery = controlPlane.kubeConfig.makeApiClient(DiscoveryV1Api);
    await core.createNamespacedService({ namespace, body: {
      metadata: { name }, spec: { clusterIP: 'None', selector: { app: name }, ports: [{ name: 'peers', port: 10000 }] },
    } });
    await apps.createNamespacedDeployment({ namespace, body: {
      metadata: { name },
      spec: {
        replicas: opts.replicas, selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'haproxy', image: `haproxy:${haproxyVersion}` }] } },
      },
    } });
    const lab: Lab = {
      controlPlane, kubelet, namespace, name, haproxyVersion, pods, allPods, stop,
      scale: async (replicas) => {
        await apps.patchNamespacedDeploymentScale({ name, namespace, body: { spec: { replicas } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      },
      waitReadyEndpoints: async (want, timeoutMs = 30_000) => {
        await waitFor(`ready endpoints ${want.join(', ')}`, async () => {
          const slices = await discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${name}` });
          const ready = new Set(slices.items.flatMap((sl) => sl.endpoints ?? []).filter((e) => e.conditions?.ready === true).map((e) => e.targetRef?.name));
          return want.every((w) => ready.has(w)) ? true : undefined;
        }, timeoutMs, 100);
      },
      waitConverged: async (n, timeoutMs = 60_000) => waitFor(`${n} meshed replicas`, async () => {
        if (backgroundErrors.length > 0) throw new Error(`HAProxy did not start: ${backgroundErrors.join('; ')}`);
        const live = [...pods.values()];
        return live.length === n && (await meshed(live)) ? live : undefined;
      }, timeoutMs, 100),
    };
    if (!opts.deferHaproxy) await lab.waitConverged(opts.replicas);
    return lab;
  } catch (err) {
    const tails = await Promise.all(allPods.map(async (p) => `--- ${p.name}\n${await tailLog(p.syncer.logPath, 15)}`));
    await stop();
    throw new Error(`${(err as Error).message}\n${tails.join('\n')}`, { cause: err });
  }
}
