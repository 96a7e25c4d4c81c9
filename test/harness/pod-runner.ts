/**
 * Runs a bound pod's containers as local processes, the way a kubelet would, from the pod spec as
 * admitted (so what the webhook injected is what runs): init containers in order, native sidecars
 * (initContainers with `restartPolicy: Always`) started in order and kept running, then the main
 * containers; env with the downward API; emptyDir / ConfigMap / Secret / projected volumes bind-mounted
 * in per-container mount namespaces; hostname = pod name; probes; restarts with backoff; and on stop
 * SIGTERM, grace period, SIGKILL — main containers first, then sidecars in reverse order.
 *
 * Not enforced (processes run as the current user; with `network: 'shared'` also in the runner's network
 * namespace on the pod's own address): runAsUser / runAsNonRoot / capabilities / seccomp, resource limits, emptyDir
 * `medium` and `sizeLimit`. `readOnlyRootFilesystem` is enforced for the root mount only (other host
 * mounts such as /dev/shm stay writable). A pod dir's volumes are removed when the pod stops.
 * @see https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
 * @see https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Container, V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ContainerRunner, type Backoff, type ContainerRole } from './pod-runner-container.ts';
import { containerEnv, expandVariables } from './pod-runner-env.ts';
import type { ExecResult } from './pod-runner-process.ts';
import { findImage, imageArgv, LAB_IMAGES, resolveArgv, type LabImage } from './pod-runner-images.ts';
import { PodConfigError, type ObjectSource } from './pod-runner-objects.ts';
import { apiserverForPods, createPodNetwork, DEFAULT_POD_NETWORK, resolvConfForPods, type PodNetwork, type PodNetworkSettings } from './pod-runner-network.ts';
import { podHostname, preparePodVolumes, type KubeAccess, type PodVolumes } from './pod-runner-volumes.ts';

export type { KubeAccess, TokenRequestOptions } from './pod-runner-volumes.ts';
export type { ObjectSource } from './pod-runner-objects.ts';
export type { ExecResult } from './pod-runner-process.ts';
export { objectSourceFromList } from './pod-runner-objects.ts';
export { kubeAccessFromKubeConfig, objectSourceFromKube } from './pod-runner-kube.ts';
export { LAB_IMAGES, STICKY_BACKEND_IMAGE } from './pod-runner-images.ts';
export { DEFAULT_POD_NETWORK, type PodNetworkSettings } from './pod-runner-network.ts';

/** Options of {@link startPod}. */
export interface StartPodOptions {
  /** The pod's address (10.244.x.y in the lab network): status.podIP, probe target, and what its programs bind to. */
  readonly ip: string;
  /** The kubelet's root dir; the pod gets `<workDir>/<namespace>_<name>_<uid>` for its volumes. */
  readonly workDir: string;
  /** Container logs go to `<logDir>/<pod>_<container>.log`. */
  readonly logDir: string;
  /** The apiserver for in-cluster config: KUBERNETES_SERVICE_HOST/PORT, CA and ServiceAccount token. */
  readonly kube?: KubeAccess;
  /** Where ConfigMaps and Secrets are read (with the kubelet's credentials); see objectSourceFromKube. */
  readonly objects?: ObjectSource;
  /** /etc/resolv.conf of the pod for dnsPolicy ClusterFirst (e.g. the cluster-DNS stand-in's). */
  readonly resolvConf?: string;
  /** status.hostIP (downward API); default 127.0.0.1. */
  readonly hostIP?: string;
  /** Called (coalesced, at most once per tick) whenever the pod status changes. */
  readonly onStatus?: (status: V1PodStatus) => void;
  readonly logger: Logger;
  /** Restart backoff; default 1 s doubling up to 30 s (shorter than the kubelet's 10 s → 5 min). */
  readonly backoff?: Backoff;
  /** Image table; default {@link LAB_IMAGES}. */
  readonly images?: readonly LabImage[];
  /**
   * `shared` (default): every pod in the runner's network namespace, told apart by its address only —
   * a program listening on 0.0.0.0 or 127.0.0.1 then collides with the same program in other pods.
   * `pod`: a network namespace per pod (pod-runner-network.ts), as in a cluster; needs scripts/lab.sh.
   * Pods with `hostNetwork: true` always share the runner's network.
   */
  readonly network?: 'shared' | 'pod';
  /** Service addresses of `network: 'pod'`; default {@link DEFAULT_POD_NETWORK}. */
  readonly podNetwork?: PodNetworkSettings;
}

/** A running pod. */
export interface PodHandle {
  readonly name: string;
  readonly namespace: string;
  /** Every main container and native sidecar running, started and passing its readiness probe. */
  ready(): boolean;
  /** The pod status (phase, conditions, container statuses, podIP) for the kubelet to write. */
  status(): V1PodStatus;
  containerStatuses(): V1ContainerStatus[];
  initContainerStatuses(): V1ContainerStatus[];
  /** Pid of a container's current process (init or main), undefined when it is not running. */
  pidOf(container: string): number | undefined;
  /** Path of a container's log file. */
  logFile(container: string): string;
  /** Runs a command in a running container, like `kubectl exec` (mapped through the image table). */
  exec(container: string, command: readonly string[], timeoutMs?: number): Promise<ExecResult>;
  /**
   * Host directory of one of the pod's volumes (e.g. the emptyDir holding HAProxy's master socket), so
   * a test can reach what the containers share; undefined before the volumes exist and after stop.
   */
  volumePath(volume: string): string | undefined;
  /** SIGKILLs a container and starts it again at once; resolves when it runs again. */
  restartContainer(container: string): Promise<void>;
  /**
   * Stops the pod: SIGTERM to main containers, SIGKILL after the grace period (default: the pod's
   * terminationGracePeriodSeconds, else 30), then native sidecars in reverse order; resolves when no
   * process of the pod is left and its volumes are removed. Idempotent.
   */
  stop(gracePeriodSeconds?: number): Promise<void>;
  /** Resolves when `predicate(handle)` holds, re-checked on each status change; rejects after `timeoutMs`. */
  waitFor(predicate: (pod: PodHandle) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 30_000 };
/** The images' PATH (every lab image is Debian-like). */
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What the runtime and the kubelet add to every container: PATH, HOSTNAME, the `kubernetes` service. */
function runtimeEnv(hostname: string, apiserver: { host: string; port: string } | undefined): Record<string, string> {
  const env: Record<string, string> = { PATH, HOSTNAME: hostname, HOME: '/root' };
  if (apiserver === undefined) return env;
  const { host, port } = apiserver;
  return {
    ...env,
    KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port, KUBERNETES_SERVICE_PORT_HTTPS: port,
    KUBERNETES_PORT: `tcp://${host}:${port}`, [`KUBERNETES_PORT_${port}_TCP`]: `tcp://${host}:${port}`,
    [`KUBERNETES_PORT_${port}_TCP_PROTO`]: 'tcp', [`KUBERNETES_PORT_${port}_TCP_PORT`]: port, [`KUBERNETES_PORT_${port}_TCP_ADDR`]: host,
  };
}

function hostPort(server: string): { host: string; port: string } {
  const url = new URL(server);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80' };
}

/**
 * Starts running `pod` (already bound: it needs metadata.name). Returns at once; progress, failures
 * (unknown image, bad spec) and readiness are reported through `status()` / `onStatus`.
 */
export function startPod(pod: V1Pod, opts: StartPodOptions): PodHandle {
  return new PodRun(pod, opts).handle;
}

class PodRun {
  readonly handle: PodHandle;
  readonly #pod: V1Pod;
  readonly #opts: StartPodOptions;
  readonly #logger: Logger;
  readonly #podDir: string;
  readonly #runners = new Map<string, ContainerRunner>();
  readonly #conditions = new Map<string, V1PodCondition>();
  readonly #listeners = new Set<() => void>();
  readonly #startTime = new Date();
  #volumes: PodVolumes | undefined;
  #network: PodNetwork | undefined;
  #failure: { reason: string; message: string } | undefined;
  #waiting: { reason: string; message: string } | undefined;
  #volumesReady = false;
  #initialized = false;
  #stopping: Promise<void> | undefined;
  #running: Promise<void> = Promise.resolve();
  readonly #abort = new AbortController();
  #lastEmitted = '';
  #emitQueued = false;

  constructor(pod: V1Pod, opts: StartPodOptions) {
    this.#pod = pod;
    this.#opts = opts;
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? 'default';
    this.#logger = opts.logger.child({ pod: `${namespace}/${name}` });
    this.#podDir = join(opts.workDir, `${namespace}_${name}_${(pod.metadata?.uid ?? 'nouid').slice(0, 8)}`);
    this.handle = {
      name, namespace,
      ready: () => this.#ready(),
      status: () => this.#status(),
      containerStatuses: () => this.#statuses(pod.spec?.containers ?? []),
      initContainerStatuses: () => this.#statuses(pod.spec?.initContainers ?? []),
      pidOf: (c) => this.#runners.get(c)?.pid,
      logFile: (c) => this.#logFile(c),
      exec: async (c, command, timeoutMs = 10_000) => {
        const runner = this.#runners.get(c);
        if (runner === undefined) throw new Error(`pod ${name} has no started container ${c}`);
        return runner.exec(command, timeoutMs);
      },
      volumePath: (v) => (this.#stopping === undefined ? this.#volumes?.dirs.get(v) : undefined),
      restartContainer: async (c) => {
        const runner = this.#runners.get(c);
        if (runner === undefined) throw new Error(`pod ${name} has no started container ${c}`);
        await runner.restart();
      },
      stop: (grace) => (this.#stopping ??= this.#stop(grace ?? pod.spec?.terminationGracePeriodSeconds ?? 30)),
      waitFor: (predicate, what, timeoutMs = 60_000) => this.#waitFor(predicate, what, timeoutMs),
    };
    if (name === '') this.#fail('InvalidPod', 'the pod has no metadata.name (is it bound?)');
    else this.#running = this.#run().catch((err: unknown) => { this.#fail('RunError', (err as Error).message, err); });
    this.#changed();
  }

  #logFile(container: string): string {
    return join(this.#opts.logDir, `${this.handle.name}_${container}.log`);
  }

  async #run(): Promise<void> {
    const spec = this.#pod.spec;
    const inits = spec?.initContainers ?? [];
    const mains = spec?.containers ?? [];
    // Check every image first: an unknown one fails the pod before anything runs.
    for (const c of [...inits, ...mains]) {
      if (findImage(c.image ?? '', this.#opts.images ?? LAB_IMAGES) === undefined) {
        this.#fail('ErrImagePull', `container ${c.name}: image "${c.image ?? ''}" is not in the lab's image table (test/harness/pod-runner-images.ts)`);
        return;
      }
    }
    await mkdir(this.#opts.logDir, { recursive: true });
    if (this.#ownNetwork()) {
      try {
        this.#network = await createPodNetwork(this.#opts.ip);
      } catch (err) {
        this.#fail('NetworkNotReady', `pod network: ${(err as Error).message}`, err);
        return;
      }
    }
    // Volumes and env may wait for a ConfigMap that is not created yet; the kubelet retries, so do we.
    const backoff = this.#opts.backoff ?? DEFAULT_BACKOFF;
    let delay = backoff.initialMs;
    for (;;) {
      if (this.#stopping !== undefined) return;
      try {
        await this.#prepare(inits, mains);
        break;
      } catch (err) {
        if (!(err instanceof PodConfigError) || !err.retryable) {
          if (err instanceof PodConfigError) { this.#fail(err.reason, err.message); return; }
          throw err;
        }
        this.#volumes?.close();
        this.#waiting = { reason: err.reason, message: err.message };
        this.#logger.info({ reason: err.reason, message: err.message }, 'pod not startable yet; retrying');
        this.#changed();
        await sleep(delay, undefined, { signal: this.#abort.signal }).catch(() => undefined);
        delay = Math.min(backoff.maxMs, delay * 2);
      }
    }
    this.#waiting = undefined;
    this.#volumesReady = true;
    this.#changed();
    for (const c of inits) {
      const runner = this.#runners.get(c.name);
      if (runner === undefined || this.#stopping !== undefined) return;
      await runner.start();
      if (runner.role === 'sidecar') {
        // The next container starts once this sidecar has started (its startupProbe passed).
        if (!await runner.until(() => runner.started)) return;
      } else if (!await runner.until(() => runner.completed || runner.finished)) {
        return;
      } else if (!runner.completed) {
        this.#fail('InitContainerFailed', `init container ${c.name} failed and the pod's restartPolicy is Never`);
        return;
      }
    }
    this.#initialized = true;
    this.#changed();
    for (const c of mains) {
      if (this.#stopping !== undefined) return;
      await this.#runners.get(c.name)?.start();
    }
  }

  #ownNetwork(): boolean {
    return this.#opts.network === 'pod' && this.#pod.spec?.hostNetwork !== true;
  }

  /** Resolves everything a container needs (volumes, env, argv); throws PodConfigError. */
  async #prepare(inits: readonly V1Container[], mains: readonly V1Container[]): Promise<void> {
    const opts = this.#opts;
    const hostIP = opts.hostIP ?? '127.0.0.1';
    const settings = opts.podNetwork ?? DEFAULT_POD_NETWORK;
    let resolvConf = opts.resolvConf;
    if (resolvConf !== undefined && this.#ownNetwork()) resolvConf = await resolvConfForPods(resolvConf, settings);
    this.#volumes = await preparePodVolumes(this.#pod, {
      podDir: this.#podDir, podIP: opts.ip, hostIP, logger: this.#logger,
      ...(opts.objects !== undefined ? { objects: opts.objects } : {}),
      ...(opts.kube !== undefined ? { kube: opts.kube } : {}),
      ...(resolvConf !== undefined ? { resolvConf } : {}),
    });
    const hostname = podHostname(this.#pod);
    const kube = opts.kube;
    const apiserver = kube === undefined ? undefined
      : this.#ownNetwork() ? await apiserverForPods(kube.server, settings) : hostPort(kube.server);
    const base = runtimeEnv(hostname, apiserver);
    const restartPolicy = (this.#pod.spec?.restartPolicy ?? 'Always') as 'Always' | 'OnFailure' | 'Never';
    const entries: [V1Container, ContainerRole][] = [
      ...inits.map((c): [V1Container, ContainerRole] => [c, c.restartPolicy === 'Always' ? 'sidecar' : 'init']),
      ...mains.map((c): [V1Container, ContainerRole] => [c, 'main']),
    ];
    const runners = new Map<string, ContainerRunner>();
    for (const [c, role] of entries) {
      const image = findImage(c.image ?? '', opts.images ?? LAB_IMAGES) as LabImage;
      const own = await containerEnv(this.#pod, c, { podIP: opts.ip, hostIP, base, ...(opts.objects !== undefined ? { objects: opts.objects } : {}) });
      const env = { ...base, ...own };
      const lookup = (n: string): string | undefined => env[n];
      const argv = imageArgv(image, c.command?.map((a) => expandVariables(a, lookup)), c.args?.map((a) => expandVariables(a, lookup)));
      const resolved = resolveArgv(image, argv, { podIP: opts.ip, ownNetwork: this.#ownNetwork() });
      if ('error' in resolved) throw new PodConfigError('StartError', `container ${c.name}: ${resolved.error}`);
      runners.set(c.name, new ContainerRunner({
        spec: c, role, image: c.image ?? '', restartPolicy, podIP: opts.ip,
        backoff: opts.backoff ?? DEFAULT_BACKOFF,
        terminationGraceMs: (this.#pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000,
        logger: this.#logger,
        onChange: () => { this.#changed(); },
        resolveCommand: (command) => resolveArgv(image, command, { podIP: opts.ip, ownNetwork: this.#ownNetwork() }),
        process: {
          argv: resolved.argv, env, hostname,
          mounts: this.#volumes.mountsFor(c),
          ...((c.workingDir ?? image.workingDir) !== undefined ? { workingDir: c.workingDir ?? image.workingDir } : {}),
          readOnlyRoot: c.securityContext?.readOnlyRootFilesystem === true,
          logFile: this.#logFile(c.name),
          ...(this.#network !== undefined ? { netnsPath: this.#network.netnsPath } : {}),
        },
      }));
    }
    for (const [name, runner] of runners) this.#runners.set(name, runner);
  }

  #fail(reason: string, message: string, err?: unknown): void {
    this.#failure = { reason, message };
    this.#logger.error({ reason, message, ...(err !== undefined ? { err } : {}) }, 'pod failed');
    this.#changed();
  }

  async #stop(graceSeconds: number): Promise<void> {
    const deadline = Date.now() + graceSeconds * 1000;
    const remaining = (): number => Math.max(0, deadline - Date.now());
    this.#abort.abort();
    const all = [...this.#runners.values()];
    this.#logger.info({ graceSeconds }, 'stopping pod');
    // Main containers (and a running plain init container) first, in parallel.
    await Promise.all(all.filter((r) => r.role !== 'sidecar').map((r) => r.stop(remaining())));
    // Then native sidecars in reverse order; each gets what is left of the grace period, at least 2 s
    // (the kubelet's minimum), so a sidecar is never SIGKILLed without a chance to stop.
    for (const r of all.filter((x) => x.role === 'sidecar').reverse()) await r.stop(Math.max(2000, remaining()));
    // The start sequence ends once it sees the stop; containers it prepared meanwhile never ran.
    await this.#running;
    for (const r of this.#runners.values()) if (!all.includes(r)) await r.stop(0);
    this.#volumes?.close();
    await this.#network?.close();
    await rm(this.#podDir, { recursive: true, force: true });
    this.#logger.info('pod stopped');
    this.#changed();
  }

  #ready(): boolean {
    if (this.#stopping !== undefined || this.#failure !== undefined || !this.#initialized) return false;
    const runners = [...this.#runners.values()].filter((r) => r.role !== 'init');
    return runners.length > 0 && runners.every((r) => r.running && r.started && r.ready);
  }

  #statuses(containers: readonly V1Container[]): V1ContainerStatus[] {
    return containers.map((c) => this.#runners.get(c.name)?.status() ?? {
      name: c.name, image: c.image ?? '', imageID: '', ready: false, restartCount: 0, started: false,
      state: { waiting: this.#failure ?? this.#waiting ?? { reason: 'PodInitializing' } },
    });
  }

  #phase(): string {
    if (this.#failure !== undefined) return 'Failed';
    if (!this.#initialized) return 'Pending';
    const mains = (this.#pod.spec?.containers ?? []).map((c) => this.#runners.get(c.name));
    const done = mains.every((r) => r?.finished === true);
    if (!done) return 'Running';
    const ok = mains.every((r) => r?.status().state?.terminated?.exitCode === 0);
    return ok ? 'Succeeded' : 'Failed';
  }

  #condition(type: string, status: boolean, reason?: string): V1PodCondition {
    const value = status ? 'True' : 'False';
    const previous = this.#conditions.get(type);
    if (previous?.status === value) return previous;
    const condition: V1PodCondition = { type, status: value, lastTransitionTime: new Date(), ...(reason !== undefined && !status ? { reason } : {}) };
    this.#conditions.set(type, condition);
    return condition;
  }

  #status(): V1PodStatus {
    const ready = this.#ready();
    const mains = this.#statuses(this.#pod.spec?.containers ?? []);
    const notReady = mains.filter((s) => !s.ready).map((s) => s.name);
    return {
      phase: this.#phase(),
      ...(this.#failure !== undefined ? { reason: this.#failure.reason, message: this.#failure.message } : {}),
      podIP: this.#opts.ip,
      podIPs: [{ ip: this.#opts.ip }],
      startTime: this.#startTime,
      conditions: [
        this.#condition('PodReadyToStartContainers', this.#volumesReady),
        this.#condition('Initialized', this.#initialized, 'ContainersNotInitialized'),
        this.#condition('ContainersReady', ready, 'ContainersNotReady'),
        this.#condition('Ready', ready, notReady.length > 0 ? 'ContainersNotReady' : 'PodNotReady'),
      ],
      initContainerStatuses: this.#statuses(this.#pod.spec?.initContainers ?? []),
      containerStatuses: mains,
    };
  }

  /** Notifies waiters at once and `onStatus` once per tick, only when the status really changed. */
  #changed(): void {
    for (const l of [...this.#listeners]) l();
    if (this.#emitQueued || this.#opts.onStatus === undefined) return;
    this.#emitQueued = true;
    queueMicrotask(() => {
      this.#emitQueued = false;
      const status = this.#status();
      const key = JSON.stringify(status);
      if (key === this.#lastEmitted) return;
      this.#lastEmitted = key;
      try {
        this.#opts.onStatus?.(status);
      } catch (err) {
        this.#logger.error({ err }, 'onStatus callback threw');
      }
    });
  }

  #waitFor(predicate: (pod: PodHandle) => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate(this.handle)) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`pod ${this.handle.name}: timed out after ${timeoutMs} ms waiting for ${what}; status: ${JSON.stringify(this.#status())}`));
      }, timeoutMs);
      const cleanup = (): void => { clearTimeout(timer); this.#listeners.delete(check); };
      this.#listeners.add(check);
      check();
    });
  }
}
