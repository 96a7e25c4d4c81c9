/**
 * Direct backend: the syncer owns `<runtime-dir>/peers.cfg`, which HAProxy loads after the user's
 * configuration, and reloads HAProxy through the master CLI. For images without the Data Plane API.
 * I/O; the decisions (what to write, whether a reload is due, how it went) are pure functions
 * elsewhere.
 *
 * A reload is requested only when HAProxy runs and its live peers section differs from the desired
 * one; before HAProxy starts (the native sidecar starts first) writing the file is enough. A rejected
 * configuration leaves the old worker serving (master-worker mode); the previous file is then put back
 * so a later restart does not pick up a file HAProxy refused.
 * https://docs.haproxy.org/2.6/management.html#9.4 (master CLI)
 */
import { readFile } from 'node:fs/promises';
import { writeAtomic } from '../common/files.ts';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HaproxyError } from '../common/errors.ts';
import { socketCommand } from './haproxy-socket.ts';
import { parsePeersFile, renderPeersFile, sortPeers, type Peer } from './peers.ts';
import { SECTION_FLAGS, parseShowPeers, type SectionStatus } from './show-peers.ts';
import { parseShowProc, reloadOutcome, type ProcInfo } from './show-proc.ts';

export interface DirectBackendOptions {
  readonly runtimeDir: string;
  readonly section: string;
  readonly localPeer: string;
  /** How long a reload may take before it counts as failed (HAProxy re-parses its whole config). */
  readonly reloadTimeoutMs?: number;
  /**
   * Longest wait for the running worker to finish its own resync before reloading (default 6 s,
   * just over HAProxy 2.6's fixed 5 s resync timeout).
   */
  readonly resyncWaitMs?: number;
}

/** What one sync did. `applied` are the peers HAProxy (or, before it starts, the file) now holds. */
export interface SyncResult {
  readonly running: boolean;
  readonly fileChanged: boolean;
  readonly reloaded: boolean;
  readonly before: readonly Peer[];
  readonly applied: readonly Peer[];
  /** Time spent waiting for the running worker's resync before the reload (0 when none). */
  readonly resyncWaitedMs?: number;
  /**
   * Which HAProxy is running (its master's pid): a new value means HAProxy itself restarted — not
   * reloaded — with an empty table that must be taught again. Undefined when the backend cannot tell.
   */
  readonly instance?: number;
}

/** The interface the reconciler drives; the Data Plane API backend implements it too. */
export interface Backend {
  /** Makes HAProxy hold exactly `desired`; throws an AppError (retryable or not) on failure. */
  sync(desired: readonly Peer[]): Promise<SyncResult>;
  /** The live peers section from the current worker; undefined when HAProxy is not up. */
  showPeers(): Promise<SectionStatus | undefined>;
}

/** Same name, address and port for every peer (the `ready` flag is not configuration). */
export function samePeers(a: readonly Peer[], b: readonly Peer[]): boolean {
  const key = (ps: readonly Peer[]): string => sortPeers(ps).map((p) => `${p.name} ${p.host} ${p.port}`).join('\n');
  return key(a) === key(b);
}

export class DirectBackend implements Backend {
  readonly peersFile: string;
  readonly masterSocket: string;
  readonly adminSocket: string;
  readonly #opts: DirectBackendOptions;
  /** Reloads requested since start, for metrics. */
  reloads = 0;

  constructor(opts: DirectBackendOptions) {
    this.#opts = opts;
    this.peersFile = join(opts.runtimeDir, 'peers.cfg');
    this.masterSocket = join(opts.runtimeDir, 'master.sock');
    this.adminSocket = join(opts.runtimeDir, 'admin.sock');
  }

  async sync(desired: readonly Peer[]): Promise<SyncResult> {
    const content = renderPeersFile({ localPeer: this.#opts.localPeer, adminSocket: this.adminSocket, section: this.#opts.section, peers: desired });
    const previous = await readFile(this.peersFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new HaproxyError(`reading ${this.peersFile}: ${err.message}`, { cause: err, retryable: true, code: 'HPS_PEERS_FILE' });
    });
    const fileChanged = content !== previous;
    if (fileChanged) await this.#write(content);

    const proc = await this.#showProc().catch(() => undefined);
    if (proc === undefined) {
      // HAProxy is not up yet: it will read the file we just wrote when it starts.
      const before = previous === undefined ? [] : parsePeersFile(previous).peers;
      return { running: false, fileChanged, reloaded: false, before, applied: desired };
    }
    const live = await this.showPeers();
    const before = live?.peers.map(statusToPeer) ?? [];
    if (live !== undefined && samePeers(before, desired)) return { running: true, fileChanged, reloaded: false, before, applied: before, instance: proc.masterPid };

    const resyncWaitedMs = await this.#waitForResync(live);
    try {
      await this.#reload(proc);
    } catch (err) {
      if (fileChanged && previous !== undefined) await this.#write(previous).catch(() => undefined);
      throw err;
    }
    return { running: true, fileChanged, reloaded: true, before, applied: desired, resyncWaitedMs, instance: proc.masterPid };
  }

  /**
   * Seen on 2.6.12: a worker whose resync is still open (section flags without 0x2, e.g. within 5 s
   * of a fresh start with no teacher) does not teach its successor, so a reload then loses the whole
   * table. Wait until the resync is over (finished or timed out) — bounded, then reload anyway.
   */
  async #waitForResync(live: SectionStatus | undefined): Promise<number> {
    const done = (s: SectionStatus | undefined): boolean => s === undefined || (s.flags & RESYNC_OVER) === RESYNC_OVER;
    if (done(live)) return 0;
    const started = Date.now();
    const deadline = started + (this.#opts.resyncWaitMs ?? 6000);
    while (Date.now() < deadline) {
      await sleep(100);
      if (done(await this.showPeers().catch(() => undefined))) break;
    }
    return Date.now() - started;
  }

  async showPeers(): Promise<SectionStatus | undefined> {
    // "@1" forwards to the current worker (the one that loaded the last good configuration).
    const text = await socketCommand(this.masterSocket, '@1 show peers');
    return parseShowPeers(text).find((s) => s.name === this.#opts.section);
  }

  /** tmp + rename in the same directory: HAProxy never reads a half-written file. */
  async #write(content: string): Promise<void> {
    try {
      await writeAtomic(this.peersFile, content, 0o644);
    } catch (err) {
      throw new HaproxyError(`writing ${this.peersFile}: ${(err as Error).message}`, { cause: err, retryable: true, code: 'HPS_PEERS_FILE' });
    }
  }

  async #showProc(): Promise<ProcInfo> {
    const info = parseShowProc(await socketCommand(this.masterSocket, 'show proc'));
    if (info === undefined) throw new HaproxyError('show proc: no master line in the answer', { retryable: true });
    return info;
  }

  /**
   * `reload` on 2.6 answers nothing (the master re-executes itself), so the result is read from
   * `show proc`: the master's counter moves, and either a new current worker appears or the failure
   * counter is set.
   */
  async #reload(before: ProcInfo): Promise<void> {
    this.reloads++;
    await socketCommand(this.masterSocket, 'reload').catch(() => undefined); // the master may drop the connection while re-executing
    const deadline = Date.now() + (this.#opts.reloadTimeoutMs ?? 15_000);
    for (;;) {
      const now = await this.#showProc().catch(() => undefined);
      const outcome = now === undefined ? 'pending' : reloadOutcome(before, now);
      if (outcome === 'succeeded') return;
      if (outcome === 'failed') {
        throw new HaproxyError('HAProxy rejected the new peers file (reload failed; the previous worker keeps serving); the previous file was restored', { retryable: true, code: 'HPS_RELOAD_FAILED' });
      }
      if (Date.now() > deadline) throw new HaproxyError('reload not confirmed by show proc in time', { retryable: true, code: 'HPS_RELOAD_TIMEOUT' });
      await sleep(20);
    }
  }
}

/** Local and remote resync over (finished or timed out): HAProxy 2.6 PEERS_F_RESYNC_LOCAL|REMOTE. */
const RESYNC_OVER = SECTION_FLAGS.localResyncDone | SECTION_FLAGS.remoteResyncDone;

function statusToPeer(s: SectionStatus['peers'][number]): Peer {
  return { name: s.name, host: s.host ?? '', port: s.port ?? 0 };
}
