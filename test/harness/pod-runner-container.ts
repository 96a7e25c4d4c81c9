/**
 * The life of one container of a pod, as the kubelet drives it: start, probes (startup first, then
 * readiness and liveness), restart after an exit according to the restart policy with exponential
 * backoff, and termination (SIGTERM, grace period, SIGKILL).
 * @see https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts
 */
import { constants as osConstants } from 'node:os';
import type { V1Container, V1ContainerState, V1ContainerStatus } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { execInContainer, spawnContainerProcess, type ContainerProcess, type ContainerProcessSpec, type ExecResult, type ProcessExit } from './pod-runner-process.ts';
import { ProbeLoop, runProbe, type ProbeTarget } from './pod-runner-probes.ts';

/** Where a container sits in its pod: init (run to completion), native sidecar, or main container. */
export type ContainerRole = 'init' | 'sidecar' | 'main';

/** Restart delays: doubled after each crash, up to `maxMs` (the kubelet uses 10 s up to 5 min). */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Everything a container needs to run, resolved once by the pod runner. */
export interface ContainerSetup {
  readonly spec: V1Container;
  readonly role: ContainerRole;
  readonly image: string;
  readonly process: ContainerProcessSpec;
  /** Maps a command of this image (exec probe) to a local argv, or explains why it cannot run. */
  readonly resolveCommand: (command: readonly string[]) => { argv: string[] } | { error: string };
  readonly restartPolicy: 'Always' | 'OnFailure' | 'Never';
  readonly podIP: string;
  readonly backoff: Backoff;
  /** The pod's terminationGracePeriodSeconds, for kills after a failed liveness or startup probe. */
  readonly terminationGraceMs: number;
  readonly logger: Logger;
  /** Called on every change of state, readiness or started. */
  readonly onChange: () => void;
}

/** A run that lasted this long resets the backoff, as a container that "works again" should. */
const BACKOFF_RESET_MS = 60_000;

/** One container's process, restarts and probes. */
export class ContainerRunner {
  readonly name: string;
  readonly role: ContainerRole;
  readonly #setup: ContainerSetup;
  #proc: ContainerProcess | undefined;
  #state: V1ContainerState = { waiting: { reason: 'PodInitializing' } };
  #lastState: V1ContainerState | undefined;
  #restartCount = 0;
  #started = false;
  #ready = false;
  #probes: ProbeLoop[] = [];
  #backoffMs: number;
  #backoffTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  #manualRestart = false;
  #completedOk = false;
  #launching: Promise<void> = Promise.resolve();
  readonly #waiters = new Set<() => void>();

  constructor(setup: ContainerSetup) {
    this.#setup = setup;
    this.name = setup.spec.name;
    this.role = setup.role;
    this.#backoffMs = setup.backoff.initialMs;
  }

  /** Running, started (startup probe passed) and ready (readiness probe passing, or none). */
  get running(): boolean { return this.#proc?.isRunning() === true; }
  get started(): boolean { return this.#started; }
  get ready(): boolean { return this.#ready; }
  /** The init container ended with exit code 0. */
  get completed(): boolean { return this.#completedOk; }
  /** Exited and will not be restarted (restart policy, or the pod is stopping). */
  get finished(): boolean { return !this.running && this.#backoffTimer === undefined && 'terminated' in this.#state && !this.#willRestart(); }
  get pid(): number | undefined { return this.running ? this.#proc?.pid : undefined; }

  /** Resolves `true` once `predicate` holds (checked after every change), `false` if the container is stopped first. */
  async until(predicate: () => boolean): Promise<boolean> {
    while (!predicate()) {
      if (this.#stopping) return false;
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
    return true;
  }

  /** Starts the container (first start). */
  async start(): Promise<void> {
    await this.#launch();
  }

  #launch(): Promise<void> {
    // Remembered so that stop() waits for a start in flight instead of missing its process.
    this.#launching = this.#spawn();
    return this.#launching;
  }

  async #spawn(): Promise<void> {
    if (this.#stopping) return;
    const setup = this.#setup;
    let proc: ContainerProcess;
    try {
      proc = await spawnContainerProcess(setup.process);
    } catch (err) {
      setup.logger.error({ err, container: this.name }, 'container failed to start');
      this.#state = { waiting: { reason: 'RunContainerError', message: (err as Error).message } };
      this.#scheduleRestart();
      return;
    }
    this.#proc = proc;
    const startedAt = new Date();
    this.#state = { running: { startedAt } };
    this.#started = false;
    this.#ready = false;
    setup.logger.info({ container: this.name, pid: proc.pid, restartCount: this.#restartCount }, 'container started');
    this.#startProbes(proc);
    this.#changed();
    void proc.exited.then((exit) => { this.#onExit(proc, exit, startedAt); });
  }

  #probeTarget(proc: ContainerProcess): ProbeTarget {
    return {
      podIP: this.#setup.podIP,
      ports: this.#setup.spec.ports ?? [],
      exec: (command, timeoutMs) => this.#exec(proc, command, timeoutMs),
    };
  }

  #exec(proc: ContainerProcess, command: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const resolved = this.#setup.resolveCommand(command);
    if ('error' in resolved) return Promise.resolve({ exitCode: null, output: resolved.error, timedOut: false });
    return execInContainer(proc.pid, resolved.argv, this.#setup.process.env, timeoutMs);
  }

  /** Runs a command inside the running container (what `kubectl exec` does); rejects when it is not running. */
  async exec(command: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const proc = this.#proc;
    if (proc?.isRunning() !== true) throw new Error(`container ${this.name} is not running`);
    return this.#exec(proc, command, timeoutMs);
  }

  #startProbes(proc: ContainerProcess): void {
    const spec = this.#setup.spec;
    const target = this.#probeTarget(proc);
    const afterStarted = (): void => {
      this.#started = true;
      if (spec.readinessProbe === undefined) this.#ready = true;
      else this.#addProbe(spec.readinessProbe, target, (ok) => { this.#ready = ok; });
      if (spec.livenessProbe !== undefined) {
        this.#addProbe(spec.livenessProbe, target, (ok, last) => { if (!ok) this.#kill(proc, 'liveness', last.message); });
      }
      this.#changed();
    };
    // Init containers that run to completion have no probes.
    if (this.role === 'init') return;
    if (spec.startupProbe === undefined) { afterStarted(); return; }
    const startup = this.#addProbe(spec.startupProbe, target, (ok, last) => {
      if (ok) { startup.stop(); afterStarted(); } else this.#kill(proc, 'startup', last.message);
    });
  }

  #addProbe(probe: NonNullable<V1Container['readinessProbe']>, target: ProbeTarget, onVerdict: (ok: boolean, last: { message: string }) => void): ProbeLoop {
    const loop = new ProbeLoop(probe, target, (ok, last) => {
      if (!ok) this.#setup.logger.info({ container: this.name, message: last.message }, 'probe failed');
      onVerdict(ok, last);
      this.#changed();
    });
    this.#probes.push(loop);
    loop.start();
    return loop;
  }

  /** A failed liveness or startup probe: the kubelet kills the container, which then restarts by policy. */
  #kill(proc: ContainerProcess, probe: string, message: string): void {
    this.#setup.logger.warn({ container: this.name, probe, message }, 'probe failed past its threshold; killing the container');
    void this.#terminate(proc, this.#setup.spec.livenessProbe?.terminationGracePeriodSeconds !== undefined
      ? this.#setup.spec.livenessProbe.terminationGracePeriodSeconds * 1000 : this.#setup.terminationGraceMs);
  }

  #onExit(proc: ContainerProcess, exit: ProcessExit, startedAt: Date): void {
    for (const p of this.#probes) p.stop();
    this.#probes = [];
    proc.killAll(); // children left in the group (HAProxy workers) go with their container
    const exitCode = exit.code ?? 128 + signalNumber(exit.signal);
    const finishedAt = new Date();
    this.#state = {
      terminated: {
        exitCode, startedAt, finishedAt,
        reason: exitCode === 0 ? 'Completed' : 'Error',
        ...(exit.signal !== null ? { signal: signalNumber(exit.signal) } : {}),
      },
    };
    this.#started = false;
    this.#ready = false;
    this.#completedOk = exitCode === 0 && this.role === 'init';
    this.#setup.logger.info({ container: this.name, exitCode, signal: exit.signal }, 'container exited');
    if (finishedAt.getTime() - startedAt.getTime() > BACKOFF_RESET_MS) this.#backoffMs = this.#setup.backoff.initialMs;
    if (this.#manualRestart) {
      this.#manualRestart = false;
      this.#lastState = this.#state;
      this.#restartCount++;
      void this.#launch();
    } else if (!this.#stopping && this.#willRestart()) {
      this.#scheduleRestart();
    }
    this.#changed();
  }

  #willRestart(): boolean {
    if (this.#stopping) return false;
    const exitCode = this.#state.terminated?.exitCode;
    // Sidecars always restart; an init container until it succeeds (unless the pod says Never).
    if (this.role === 'sidecar') return true;
    if (this.role === 'init') return exitCode !== 0 && this.#setup.restartPolicy !== 'Never';
    return this.#setup.restartPolicy === 'Always' || (this.#setup.restartPolicy === 'OnFailure' && exitCode !== 0);
  }

  #scheduleRestart(): void {
    if (this.#stopping) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#setup.backoff.maxMs, this.#backoffMs * 2);
    this.#lastState = 'terminated' in this.#state ? this.#state : this.#lastState;
    const message = `back-off ${Math.round(delay / 1000)}s restarting failed container=${this.name}`;
    this.#state = { waiting: { reason: this.#state.waiting?.reason === 'RunContainerError' ? 'RunContainerError' : 'CrashLoopBackOff', message } };
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = undefined;
      this.#restartCount++;
      void this.#launch();
    }, delay);
    this.#changed();
  }

  /** Kills the container now (SIGKILL) and starts it again at once, without backoff. */
  async restart(): Promise<void> {
    if (this.#stopping) return;
    const proc = this.#proc;
    if (proc?.isRunning() === true) {
      this.#manualRestart = true;
      proc.killAll();
      await proc.exited;
    } else {
      clearTimeout(this.#backoffTimer);
      this.#backoffTimer = undefined;
      this.#restartCount++;
      await this.#launch();
    }
    await this.until(() => this.running || this.#stopping);
  }

  /**
   * Stops the container for good: SIGTERM to its main process, SIGKILL to its process group after
   * `graceMs`; resolves when it is gone (and no process of its group is left).
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#backoffTimer);
    this.#backoffTimer = undefined;
    await this.#launching;
    const proc = this.#proc;
    if (proc?.isRunning() === true && this.#setup.spec.lifecycle?.preStop !== undefined) {
      // The preStop hook runs first and its time counts against the grace period, as in the kubelet.
      const begin = Date.now();
      await this.#preStop(proc, graceMs);
      graceMs = Math.max(0, graceMs - (Date.now() - begin));
    }
    if (proc !== undefined) await this.#terminate(proc, graceMs);
    for (const p of this.#probes) p.stop();
    this.#changed();
  }

  /** Runs lifecycle.preStop (exec, httpGet or sleep), bounded by the grace period; failures are logged only. */
  async #preStop(proc: ContainerProcess, graceMs: number): Promise<void> {
    const hook = this.#setup.spec.lifecycle?.preStop;
    if (hook === undefined) return;
    const timeoutSeconds = Math.max(1, Math.ceil(graceMs / 1000));
    let result: { ok: boolean; message: string };
    const sleep = hook.sleep;
    if (sleep !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(graceMs, sleep.seconds * 1000)));
      result = { ok: true, message: '' };
    } else {
      result = await runProbe({ ...(hook.exec !== undefined ? { exec: hook.exec } : {}), ...(hook.httpGet !== undefined ? { httpGet: hook.httpGet } : {}), timeoutSeconds },
        this.#probeTarget(proc));
    }
    if (!result.ok) this.#setup.logger.warn({ container: this.name, message: result.message }, 'preStop hook failed');
  }

  async #terminate(proc: ContainerProcess, graceMs: number): Promise<void> {
    if (!proc.isRunning()) { proc.killAll(); return; }
    proc.signal('SIGTERM');
    const timer = setTimeout(() => { proc.killAll(); }, Math.max(0, graceMs));
    await proc.exited;
    clearTimeout(timer);
    proc.killAll();
  }

  /** The container's entry of the pod status. */
  status(): V1ContainerStatus {
    return {
      name: this.name,
      image: this.#setup.image,
      imageID: `lab://${this.#setup.image}`,
      ...(this.#proc !== undefined ? { containerID: `lab://${this.#proc.pid}` } : {}),
      ready: this.role === 'init' ? this.#completedOk : this.#ready,
      started: this.role === 'init' ? this.running : this.#started,
      restartCount: this.#restartCount,
      state: this.#state,
      ...(this.#lastState !== undefined ? { lastState: this.#lastState } : {}),
    };
  }

  #changed(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
    this.#setup.onChange();
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : osConstants.signals[signal];
}
