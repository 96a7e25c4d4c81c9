/**
 * One container = one local process in its own mount and UTS namespaces: `unshare` gives it a private
 * mount table, a tiny bash wrapper bind-mounts the pod's volume directories on the container's paths and
 * sets the hostname, then execs the program (so the container's pid is the program's pid, and SIGTERM
 * reaches it directly, as it reaches PID 1 of a container).
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import type { Mount } from './pod-runner-volumes.ts';

/** What to run, fully resolved (local argv, final env, mounts). */
export interface ContainerProcessSpec {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly hostname: string;
  readonly mounts: readonly Mount[];
  readonly workingDir?: string;
  /** securityContext.readOnlyRootFilesystem: remount `/` read-only in the container's namespace. */
  readonly readOnlyRoot: boolean;
  /** stdout and stderr are appended here. */
  readonly logFile: string;
  /** The pod's network namespace (`/proc/<pid>/ns/net`); absent: the runner's own network. */
  readonly netnsPath?: string;
}

/** How a container process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A started container process. */
export interface ContainerProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  isRunning(): boolean;
  /** Sends a signal to the container's main process (what a runtime sends to PID 1). */
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL to the whole process group: also ends children the program started (HAProxy workers). */
  killAll(): void;
}

// Positional arguments: hostname, workingDir ('' = none), readOnlyRoot (1/0), mount count, then per mount
// (source, d|f, target, ro 1/0), then the program argv. Errors go to the container's log, prefixed.
const WRAPPER = [
  'set -euo pipefail',
  "trap 'echo \"pod-runner: container setup failed at line $LINENO\" >&2' ERR",
  'user_path=${PATH-}',
  'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
  'host=$1 workdir=$2 roroot=$3 n=$4',
  'shift 4',
  'srcs=() kinds=() targets=() ros=() fds=()',
  'for ((i = 0; i < n; i++)); do srcs+=("$1"); kinds+=("$2"); targets+=("$3"); ros+=("$4"); shift 4; done',
  '# Open every source before mounting anything: a later mount (an emptyDir on /tmp, say) may hide the',
  '# path of another source; /proc/self/fd/N still reaches it.',
  'for ((i = 0; i < n; i++)); do exec {fd}<"${srcs[i]}"; fds+=("$fd"); done',
  'for ((i = 0; i < n; i++)); do',
  '  t=${targets[i]}',
  '  if [[ ${kinds[i]} == d ]]; then mkdir -p -- "$t"; else mkdir -p -- "$(dirname -- "$t")"; [[ -e $t ]] || : >"$t"; fi',
  '  mount --no-canonicalize --bind "/proc/self/fd/${fds[i]}" "$t"',
  '  if [[ ${ros[i]} == 1 ]]; then mount --no-canonicalize -o remount,bind,ro "$t"; fi',
  'done',
  'for fd in "${fds[@]}"; do exec {fd}<&-; done',
  'hostname "$host"',
  'if [[ -n $workdir ]]; then mkdir -p -- "$workdir"; fi',
  'if [[ $roroot == 1 ]]; then mount --no-canonicalize -o remount,bind,ro /; fi',
  'if [[ -n $workdir ]]; then cd -- "$workdir"; else cd /; fi',
  'if [[ -n $user_path ]]; then PATH=$user_path; else unset PATH; fi',
  'trap - ERR',
  'exec "$@"',
].join('\n');

/**
 * Starts a container process. The process is its own process group (so {@link ContainerProcess.killAll}
 * reaches its children) and dies with this Node process (`setpriv --pdeathsig KILL`), so a crashed test
 * leaves no container behind.
 */
export async function spawnContainerProcess(spec: ContainerProcessSpec): Promise<ContainerProcess> {
  const mountArgs: string[] = [];
  for (const m of spec.mounts) {
    // A missing subPath of an emptyDir is created, as the kubelet does.
    const info = await stat(m.source).catch(async () => { await mkdir(m.source, { recursive: true }); return stat(m.source); });
    mountArgs.push(m.source, info.isDirectory() ? 'd' : 'f', m.target, m.readOnly ? '1' : '0');
  }
  const args = [
    '--pdeathsig', 'KILL', '--',
    ...(spec.netnsPath !== undefined ? ['nsenter', `--net=${spec.netnsPath}`, '--'] : []),
    'unshare', '--mount', '--uts', '--propagation', 'private', '--',
    '/bin/bash', '-c', WRAPPER, 'pod-runner',
    spec.hostname, spec.workingDir ?? '', spec.readOnlyRoot ? '1' : '0', String(spec.mounts.length), ...mountArgs,
    ...spec.argv,
  ];
  const fd = openSync(spec.logFile, 'a');
  let child;
  try {
    child = spawn('/usr/bin/setpriv', args, { env: { ...spec.env }, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`could not start ${spec.argv[0] ?? ''}: ${err.message}`, { cause: err });
  }
  child.on('error', () => {}); // after a successful spawn only a failed kill() lands here; ESRCH is fine.
  let running = true;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => { running = false; resolve({ code, signal }); });
  });
  const send = (target: number, sig: NodeJS.Signals): void => {
    try { process.kill(target, sig); } catch { /* ESRCH: already gone */ }
  };
  return {
    pid,
    exited,
    isRunning: () => running,
    signal: (sig) => { if (running) send(pid, sig); },
    killAll: () => send(-pid, 'SIGKILL'),
  };
}

/** Result of a command run inside a container. */
export interface ExecResult {
  readonly exitCode: number | null;
  readonly output: string;
  readonly timedOut: boolean;
}

/**
 * Runs a command in the mount, UTS and network namespaces of a running container (what `kubectl exec` and exec
 * probes do), with the container's env and working directory; SIGKILLed after `timeoutMs`.
 */
export function execInContainer(pid: number, argv: readonly string[], env: Readonly<Record<string, string>>, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile('/usr/bin/nsenter', ['--target', String(pid), '--mount', '--uts', '--net', '--wd', '--', ...argv],
      { env: { ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`.slice(0, 10 * 1024);
        if (err === null) { resolve({ exitCode: 0, output, timedOut: false }); return; }
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
        resolve({ exitCode: typeof e.code === 'number' ? e.code : null, output: output || e.message, timedOut: e.killed === true });
      });
  });
}
