/**
 * Child processes of the test harness: each one logs to its own file, and none outlives the Node process
 * that started it — `stop()` ends it, and a once-registered `exit` / signal hook ends whatever is left.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { access, constants, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** How a child ended: its exit code, or the signal that killed it. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What to start. `logDir` receives `<name>.log` with the child's stdout and stderr. */
export interface ProcessSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logDir: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** A running (or ended) child process of the harness. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Settles once, when the child has ended and been reaped. */
  readonly exited: Promise<ExitInfo>;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. Idempotent. */
  stop(graceMs?: number): Promise<ExitInfo>;
}

const live = new Set<ManagedProcess>();
const scratch = new Set<string>();
let hooksInstalled = false;
// Set by the first SIGINT/SIGTERM/SIGHUP: from then on nothing new is started (a test still running
// while we shut down would otherwise spawn a child that no one stops).
let terminating: NodeJS.Signals | undefined;

/**
 * Marks a directory to delete when the Node process exits without having cleaned up (a killed test
 * file): meant for bulky throwaway data such as etcd's preallocated WAL, not for logs. Returns a
 * function that unregisters it (after a normal clean-up).
 */
export function removeOnExit(dir: string): () => void {
  installExitHooks();
  scratch.add(dir);
  return () => {
    scratch.delete(dir);
  };
}

/**
 * Starts `spec.command` with stdout/stderr appended to `<logDir>/<name>.log`. Rejects at once, naming
 * the path, when the binary is missing or not executable: the harness never skips a missing part.
 */
export async function spawnProcess(spec: ProcessSpec): Promise<ManagedProcess> {
  try {
    await access(spec.command, constants.X_OK);
  } catch (cause) {
    throw new Error(`${spec.name}: binary ${spec.command} is missing or not executable (run: bash scripts/setup.sh)`, {
      cause,
    });
  }
  installExitHooks();
  if (terminating) throw new Error(`${spec.name}: not started, the process is stopping (${terminating})`);
  const logPath = join(spec.logDir, `${spec.name}.log`);
  const fd = openSync(logPath, 'a');
  let child;
  try {
    // detached: the child gets its own process group, so a terminal's Ctrl-C reaches only us and the
    // owner stops the children in order (controller-manager, apiserver, then etcd), not all at once.
    child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`${spec.name}: could not start ${spec.command}: ${err.message}`, { cause: err });
  }
  // After a successful spawn, 'error' only reports a failed kill(); the exit promise covers the rest.
  child.on('error', () => {});
  let running = true;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  let stopping: Promise<ExitInfo> | undefined;
  const proc: ManagedProcess = {
    name: spec.name,
    pid,
    logPath,
    exited,
    isRunning: () => running,
    stop(graceMs = 5000) {
      stopping ??= stopChild(proc, graceMs);
      return stopping;
    },
  };
  live.add(proc);
  return proc;
}

async function stopChild(proc: ManagedProcess, graceMs: number): Promise<ExitInfo> {
  if (!proc.isRunning()) return proc.exited;
  signal(proc.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      signal(proc.pid, 'SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([proc.exited, killed]);
  clearTimeout(timer);
  return proc.exited;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: it ended between our check and the signal; nothing left to do.
  }
}

/** Stops every child the harness still has running, in parallel. */
export async function stopAllProcesses(graceMs = 5000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(graceMs)));
}

/** Pids of the children that are still running (for leak checks). */
export function livePids(): number[] {
  return [...live].map((p) => p.pid);
}

/** True when a process with this pid exists (and is not a reaped zombie of ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Registered once per Node process. On `exit` (normal end, `process.exit`, uncaught error) every live
 * child gets SIGKILL, synchronously — the only thing an exit hook can do. On SIGINT/SIGTERM/SIGHUP, when
 * no one else listens for that signal, every child is stopped (SIGTERM, then SIGKILL) and the signal is
 * re-raised, so the default behaviour (die by that signal) is kept. When someone else listens (the test
 * runner, cluster-main), that owner stops things in its own order, and the exit hook is the safety net.
 */
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const p of live) signal(p.pid, 'SIGKILL');
    removeScratch();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      terminating ??= sig;
      if (process.listenerCount(sig) > 1) return;
      void stopAllProcesses(3000).finally(() => {
        for (const p of live) signal(p.pid, 'SIGKILL'); // anything that slipped in meanwhile
        removeScratch(); // dying by the signal skips the exit hook
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      });
    };
    process.on(sig, onSignal);
  }
}

function removeScratch(): void {
  for (const dir of scratch) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // A child killed just now may still hold files; nothing more can be done at exit.
    }
  }
  scratch.clear();
}

/** The last `lines` lines of a log file, for error messages; empty when it cannot be read. */
export async function tailLog(path: string, lines = 20): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * `count` distinct free TCP ports on 127.0.0.1. All listeners stay open until every port is chosen, so
 * the kernel cannot hand out the same one twice; a small race with other programs remains, as with any
 * port-0 scheme, and shows up as a clear "address in use" in the child's log.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** What is awaited, for the error message. */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Fail fast, with its log tail, when this process ends while we wait. */
  readonly process?: ManagedProcess;
  /** Give up (throwing the abort reason) once this is aborted. */
  readonly signal?: AbortSignal;
}

/**
 * Polls `check` until it returns a value other than `undefined`/`false`, and returns it. Errors thrown by
 * `check` count as "not yet" (the last one is kept for the timeout message).
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 100;
  let lastError: unknown;
  for (;;) {
    opts.signal?.throwIfAborted();
    if (opts.process && !opts.process.isRunning()) {
      const info = await opts.process.exited;
      const tail = await tailLog(opts.process.logPath);
      throw new Error(
        `${opts.process.name} exited (code ${info.code}, signal ${info.signal}) while waiting for ${opts.what}; log ${opts.process.logPath}:\n${tail}`,
      );
    }
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const tail = opts.process ? `\nlog ${opts.process.logPath}:\n${await tailLog(opts.process.logPath)}` : '';
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}${tail}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
