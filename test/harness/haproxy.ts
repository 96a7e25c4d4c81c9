/**
 * Test harness: real HAProxy processes in master-worker mode, one per replica, each on its own
 * 127.0.0.x address with its own runtime directory (master socket, admin socket, user config, peers
 * file), laid out like the shared volume of an injected pod (docs/design.md).
 *
 * The HAProxy version is a parameter: `2.6` is Debian bookworm's package (/usr/sbin/haproxy, 2.6.12),
 * `3.0` is Debian trixie's 3.0.11 made runnable on this host by scripts/install-haproxy-3.0.sh (in
 * $HPS_CACHE/haproxy-<version>). Every test that runs real HAProxy runs on both (HAPROXY_VERSIONS). A
 * missing or wrong binary fails the test, saying how to install it: tests never skip.
 *
 * Every process is started in its own process group so stop() can kill the master and every worker
 * (current and draining) at once; a process-exit hook kills whatever a crashed test left behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { socketCommand } from '../../syncer/haproxy-socket.ts';
import { parseShowPeers, type SectionStatus } from '../../syncer/show-peers.ts';
import { parseShowProc, type ProcInfo } from '../../syncer/show-proc.ts';
import { renderPeersFile, type Peer } from '../../syncer/peers.ts';

/** The HAProxy versions the project supports and tests; every HAProxy-backed test runs on each. */
export const HAPROXY_VERSIONS = ['2.6', '3.0'] as const;
export type HaproxyVersion = (typeof HAPROXY_VERSIONS)[number];
export const DEFAULT_HAPROXY_VERSION: HaproxyVersion = '2.6';

const ROOT = resolve(import.meta.dirname, '../..');

/** $HPS_CACHE the way scripts/lib.sh finds it (scripts/node.sh exports HPS_CACHE and HPS_BIN). */
export function hpsCache(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HPS_CACHE) return env.HPS_CACHE;
  if (env.HPS_BIN) return dirname(env.HPS_BIN);
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'haproxy-peer-sync');
}

/** A `KEY=value` of scripts/versions.env (the one place versions are pinned). */
function pinned(key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(readFileSync(join(ROOT, 'scripts/versions.env'), 'utf8'));
  if (!m?.[1]) throw new Error(`${key} is not set in scripts/versions.env`);
  return m[1].trim();
}

/** Where each version's binary is, which version it must report, and how to install it. */
export function haproxyInstall(version: HaproxyVersion): { binary: string; expect: RegExp; install: string } {
  if (version === '2.6') {
    return {
      binary: '/usr/sbin/haproxy',
      expect: /^2\.6\.\d+/,
      install: "Debian bookworm's haproxy package: run `bash scripts/setup.sh`",
    };
  }
  const v = pinned('HAPROXY_30_VERSION');
  return {
    binary: join(hpsCache(), `haproxy-${v}`, 'sbin', 'haproxy'),
    expect: new RegExp(`^${v.replaceAll('.', '\\.')}(?:[-+~]|$)`),
    install: `Debian trixie's ${v} made runnable here: run \`bash scripts/install-haproxy-3.0.sh\` (or \`bash scripts/setup.sh\`)`,
  };
}

const checked = new Map<HaproxyVersion, { binary: string; reported: string }>();

/**
 * The binary of `version`, checked once per process: it must exist and report that version. Throws an
 * error that says how to install it (a test that needs it then fails; it is never skipped).
 */
export function haproxyBinary(version: HaproxyVersion = DEFAULT_HAPROXY_VERSION): { binary: string; reported: string } {
  const known = checked.get(version);
  if (known) return known;
  const { binary, expect, install } = haproxyInstall(version);
  if (!existsSync(binary))
    throw new Error(`HAProxy ${version} is not installed (no ${binary}). Install it: ${install}.`);
  let reported = '';
  try {
    reported =
      /^HAProxy version (\S+)/.exec(execFileSync(binary, ['-v'], { encoding: 'utf8', timeout: 10_000 }))?.[1] ?? '';
  } catch (err) {
    throw new Error(
      `HAProxy ${version} at ${binary} does not run (${(err as Error).message.split('\n')[0]}). Reinstall it: ${install}.`,
      { cause: err },
    );
  }
  if (!expect.test(reported))
    throw new Error(
      `${binary} reports HAProxy ${reported || '(nothing)'}, not ${version} (${expect.source}). Install it: ${install}.`,
    );
  const found = { binary, reported };
  checked.set(version, found);
  return found;
}

export const DEFAULT_SECTION = 'haproxy-peers';
export const DEFAULT_TABLE = 'sessions';
export const DEFAULT_PEER_PORT = 10000;

/**
 * The user's configuration as a real user would write it: a stick-table that names our peers section
 * (which it never declares) and a frontend bound to "${POD_IP}". `hard-stop-after` bounds how long
 * old workers linger after reloads (their peer links would keep them alive).
 */
export function userConfig(table = DEFAULT_TABLE, section = DEFAULT_SECTION): string {
  return `global
    hard-stop-after 30s
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind "\${POD_IP}:8080"
    http-request track-sc0 src table ${table}
    http-request return status 200
backend ${table}
    stick-table type string len 64 size 1m expire 1h peers ${section} store gpc0
`;
}

export interface StartOptions {
  /** Peer name = the pod name. */
  readonly name: string;
  readonly ip: string;
  /** Runtime directory (the pod's shared volume); a fresh temporary one when absent. */
  readonly dir?: string;
  /** Peers to write into `<dir>/peers.cfg` before starting; absent: the file must already be there. */
  readonly peers?: readonly Peer[];
  readonly section?: string;
  readonly table?: string;
  /** Which HAProxy runs it (default 2.6). */
  readonly version?: HaproxyVersion;
}

/** A running HAProxy replica. */
export interface HaproxyReplica {
  readonly name: string;
  readonly ip: string;
  /** The requested version (`2.6`, `3.0`) and the full one the binary reports (`3.0.11-1+deb13u4`). */
  readonly version: HaproxyVersion;
  readonly fullVersion: string;
  readonly dir: string;
  readonly masterSocket: string;
  readonly adminSocket: string;
  readonly peersFile: string;
  readonly table: string;
  readonly section: string;
  /** stdout+stderr of HAProxy so far (for failure messages). */
  output(): string;
  /** A command on the admin socket. */
  cli(cmd: string): Promise<string>;
  /** A command on the master CLI. */
  masterCli(cmd: string): Promise<string>;
  /** The parsed `show peers` section of this replica (from the current worker). */
  showPeers(): Promise<SectionStatus | undefined>;
  /** `show table <name>` as a map key → data line. */
  showTable(name?: string): Promise<Map<string, string>>;
  /** `set table <name> key <key> data.gpc0 <value>`. */
  setTable(key: string, value: number, name?: string): Promise<void>;
  showProc(): Promise<ProcInfo>;
  /** The master's reload counter (failed reloads included). */
  reloadCount(): Promise<number>;
  /** Kills the master and every worker; idempotent. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

/**
 * Starts one replica: `haproxy -W -db -S master.sock -f user.cfg -f peers.cfg` with POD_IP set, and
 * resolves once the admin socket answers. Throws (after stopping it) when HAProxy does not come up.
 */
export async function startHaproxy(opts: StartOptions): Promise<HaproxyReplica> {
  const version = opts.version ?? DEFAULT_HAPROXY_VERSION;
  const { binary, reported } = haproxyBinary(version);
  const section = opts.section ?? DEFAULT_SECTION;
  const table = opts.table ?? DEFAULT_TABLE;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `hps-haproxy-${opts.name}-`));
  const ownDir = opts.dir === undefined;
  mkdirSync(dir, { recursive: true });
  const masterSocket = join(dir, 'master.sock');
  const adminSocket = join(dir, 'admin.sock');
  const peersFile = join(dir, 'peers.cfg');
  const userFile = join(dir, 'user.cfg');
  writeFileSync(userFile, userConfig(table, section));
  if (opts.peers)
    writeFileSync(peersFile, renderPeersFile({ localPeer: opts.name, adminSocket, section, peers: opts.peers }));
  if (!existsSync(peersFile))
    throw new Error(`${peersFile} does not exist: pass peers or let the syncer write it first`);

  let out = '';
  const child = spawn(binary, ['-W', '-db', '-S', `${masterSocket},mode,600`, '-f', userFile, '-f', peersFile], {
    env: { ...process.env, POD_IP: opts.ip },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: stop() kills master and workers together
  });
  live.add(child);
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    killGroup(child, 'SIGTERM');
    const killed = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
    // Old workers may outlive the master for a moment: the group kill reaches them too.
    killGroup(child, 'SIGKILL');
    if (!killed) await exited;
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };

  const cli = (cmd: string): Promise<string> => socketCommand(adminSocket, cmd);
  const masterCli = (cmd: string): Promise<string> => socketCommand(masterSocket, cmd);
  const showProc = async (): Promise<ProcInfo> => {
    const info = parseShowProc(await masterCli('show proc'));
    if (info === undefined) throw new Error('show proc: no master line');
    return info;
  };
  const replica: HaproxyReplica = {
    name: opts.name,
    ip: opts.ip,
    version,
    fullVersion: reported,
    dir,
    masterSocket,
    adminSocket,
    peersFile,
    table,
    section,
    output: () => out,
    cli,
    masterCli,
    showProc,
    showPeers: async () => parseShowPeers(await masterCli('@1 show peers')).find((s) => s.name === section),
    showTable: async (name = table) => {
      const rows = new Map<string, string>();
      for (const line of (await cli(`show table ${name}`)).split('\n')) {
        const m = /\bkey=(\S+) (.*)$/.exec(line);
        if (m?.[1] !== undefined) rows.set(m[1], m[2] ?? '');
      }
      return rows;
    },
    setTable: async (key, value, name = table) => {
      const answer = await cli(`set table ${name} key ${key} data.gpc0 ${value}`);
      if (answer.trim() !== '') throw new Error(`set table: ${answer.trim()}`);
    },
    reloadCount: async () => (await showProc()).reloads,
    stop,
  };

  const deadline = Date.now() + 10_000;
  for (;;) {
    // Up = the worker's admin socket and the master CLI both answer (the master's comes a little later).
    try {
      await cli('show info');
      await showProc();
      return replica;
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`HAProxy ${reported} ${opts.name} on ${opts.ip} did not start:\n${out}`);
    }
    await sleep(50);
  }
}

/** Polls `check` until it returns a non-undefined value; throws with `what` and the last error after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`,
      );
    await sleep(intervalMs);
  }
}

/** Starts `names.length` replicas that all declare each other, on the given addresses. */
export async function startCluster(
  replicas: readonly { name: string; ip: string }[],
  port = DEFAULT_PEER_PORT,
  version: HaproxyVersion = DEFAULT_HAPROXY_VERSION,
): Promise<HaproxyReplica[]> {
  const peers = replicas.map((r) => ({ name: r.name, host: r.ip, port }));
  const started: HaproxyReplica[] = [];
  try {
    for (const r of replicas) started.push(await startHaproxy({ name: r.name, ip: r.ip, peers, version }));
  } catch (err) {
    await Promise.all(started.map((s) => s.stop()));
    throw err;
  }
  return started;
}
