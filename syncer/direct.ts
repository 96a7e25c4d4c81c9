/**
 * Direct backend: the syncer owns `<runtime-dir>/peers.cfg`, which HAProxy loads after the user's
 * configuration, and reloads HAProxy through the master CLI. For images without the Data Plane API.
 * I/O; the decisions (what to write, whether a reload is due, how it went, what the version's answers
 * mean) are pure functions elsewhere.
 *
 * Every pass reads `show proc`, which also names HAProxy's version: a version the syncer does not know
 * is refused (HPS_HAPROXY_VERSION) — no reload, no verdict. A reload is requested only when HAProxy runs
 * and its live peers section differs from the desired one; before HAProxy starts (the native sidecar
 * starts first) writing the file is enough. A rejected configuration leaves the old worker serving
 * (master-worker mode); the previous file is then put back so a later restart does not pick up a file
 * HAProxy refused. On 3.0 the reload's own answer says whether it loaded and, if not, why (HAProxy's
 * error lines); on 2.6 it says nothing and `show proc` confirms it.
 * https://docs.haproxy.org/2.6/management.html#9.4, https://docs.haproxy.org/3.0/management.html#9.4
 */
import { readFile } from 'node:fs/promises';
import { writeAtomic } from '../common/files.ts';
import { runtimePaths } from '../common/contract.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { ERRORS, HaproxyError } from '../common/errors.ts';
import { socketCommand } from './haproxy-socket.ts';
import { parsePeersFile, renderPeersFile, sortPeers, type Peer } from './peers.ts';
import { dialectFor, type HaproxyDialect } from './haproxy-version.ts';
import { parseShowPeers, type SectionStatus } from './show-peers.ts';
import { ownWritesTarget, unackedWrites, type Unacked } from './acks.ts';
import {
  failureLines,
  masterInstance,
  parseReloadAnswer,
  parseShowProc,
  reloadOutcome,
  type MasterInstance,
  type ProcInfo,
} from './show-proc.ts';

export interface DirectBackendOptions {
  readonly runtimeDir: string;
  readonly section: string;
  readonly localPeer: string;
  /** How long a reload may take before it counts as failed (HAProxy re-parses its whole config). */
  readonly reloadTimeoutMs?: number;
  /**
   * Longest wait for the running worker to finish its own resync before reloading (default 6 s,
   * just over HAProxy's fixed 5 s resync timeout, the same in 2.6 and 3.0).
   */
  readonly resyncWaitMs?: number;
  /**
   * Longest wait before a reload for the peers that stay to acknowledge this worker's own writes
   * (syncer/acks.ts: what they lack then, they never get). Default 3 s.
   */
  readonly ackWaitMs?: number;
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
  /** Time spent waiting for the peers to acknowledge this worker's writes before the reload (0 when none). */
  readonly ackWaitedMs?: number;
  /** What was still unacknowledged when the reload went ahead anyway (the wait ran out): lost to those peers. */
  readonly unackedAtReload?: readonly Unacked[];
  /**
   * Where the sync's time went, in ms since it began (for the 'peers changed' log line): the file
   * written, HAProxy's live section read, the reload sent, the reload confirmed (the new worker's
   * section live). Only the steps taken.
   */
  readonly timing?: SyncTiming;
  /**
   * After a reload: the peers section of the worker it replaced, as last read just before the reload
   * (undefined when it could not be read). Whether that worker had been taught decides what the new
   * worker's lesson from it is worth (show-peers.ts, WorkerHistory).
   */
  readonly replaced?: SectionStatus;
  /**
   * Which HAProxy is running (its master: pid, start time, reloads so far — as read before this pass's
   * reload). Another master means HAProxy itself restarted — not reloaded — with an empty table that must
   * be taught again (show-proc.ts, sameMaster). Undefined when the backend cannot tell.
   */
  readonly instance?: MasterInstance;
  /** The running HAProxy's version and what its answers mean; undefined when HAProxy is not up. */
  readonly haproxy?: HaproxyDialect;
}

/** See SyncResult.timing. */
export interface SyncTiming {
  readonly fileWrittenMs?: number;
  readonly liveReadMs?: number;
  readonly reloadSentMs?: number;
  readonly reloadDoneMs?: number;
}

/** HAProxy refused the configuration on reload; the previous worker keeps serving. */
export class ReloadRejectedError extends HaproxyError {
  /** HAProxy's own log of the failed load (3.0's `reload` answer); empty when the version does not return it (2.6). */
  readonly haproxyLog: readonly string[];
  /** The lines that say why (its `[ALERT]` lines), for logs and the failure metric. */
  readonly reasons: readonly string[];
  /** The version of the HAProxy that refused it. */
  readonly haproxyVersion: string;
  constructor(message: string, haproxyLog: readonly string[], haproxyVersion: string) {
    super(ERRORS.HPS_RELOAD_FAILED, message);
    this.haproxyLog = haproxyLog;
    this.reasons = failureLines(haproxyLog);
    this.haproxyVersion = haproxyVersion;
  }
}

/** An HAProxy version the syncer does not know (HPS_HAPROXY_VERSION; retryable: the container may be replaced). */
export class UnknownVersionError extends HaproxyError {
  /** The version HAProxy reported ('' when it reported none). */
  readonly version: string;
  constructor(d: { readonly version: string; readonly reason: string }) {
    super(ERRORS.HPS_HAPROXY_VERSION, d.reason);
    this.version = d.version;
  }
}

/** The dialect of the HAProxy behind `proc`; throws UnknownVersionError when unknown. */
export function dialectOf(proc: ProcInfo): HaproxyDialect {
  const d = dialectFor(proc.version ?? '');
  if (!d.known) throw new UnknownVersionError(d);
  return d.dialect;
}

/** Reads `show proc` on a master CLI; throws a retryable HaproxyError when it does not answer. */
export async function showProc(masterSocket: string): Promise<ProcInfo> {
  const info = parseShowProc(await socketCommand(masterSocket, 'show proc'));
  if (info === undefined) throw new HaproxyError(ERRORS.HPS_HAPROXY_ANSWER, 'show proc: no master line in the answer');
  return info;
}

/**
 * The current worker's view of `section` (`@1 show peers` forwards to the worker that loaded the last
 * good configuration); undefined when that section is not loaded. Both backends read readiness this way.
 */
export async function showPeers(masterSocket: string, section: string): Promise<SectionStatus | undefined> {
  return parseShowPeers(await socketCommand(masterSocket, '@1 show peers')).find((s) => s.name === section);
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
  const key = (ps: readonly Peer[]): string =>
    sortPeers(ps)
      .map((p) => `${p.name} ${p.host} ${p.port}`)
      .join('\n');
  return key(a) === key(b);
}

/**
 * Reads the section every `stepMs` until `done` holds for a read or `maxMs` has passed (the waits before
 * a reload: the running worker's resync, the peers' acknowledgements). Returns the time waited and the
 * last section read.
 */
async function readUntil(
  read: () => Promise<SectionStatus | undefined>,
  first: SectionStatus | undefined,
  done: (s: SectionStatus | undefined) => boolean,
  maxMs: number,
  stepMs: number,
): Promise<{ waitedMs: number; last: SectionStatus | undefined }> {
  if (done(first)) return { waitedMs: 0, last: first };
  const started = Date.now();
  let last = first;
  while (Date.now() < started + maxMs) {
    await sleep(stepMs);
    last = await read();
    if (done(last)) break;
  }
  return { waitedMs: Date.now() - started, last };
}

/**
 * Waits until every peer that stays has acknowledged this worker's writes made so far (syncer/acks.ts),
 * bounded (default 3 s); a peer that is reloading or reconnecting acknowledges once its new worker is
 * linked again. Both backends call it just before their reload. Returns the time waited, what is still
 * unacknowledged (empty unless the wait ran out) and the last section read (a failed read keeps the one
 * before it).
 */
export async function waitForAcks(
  read: () => Promise<SectionStatus | undefined>,
  live: SectionStatus | undefined,
  desired: readonly Peer[],
  maxMs = 3000,
): Promise<{ waitedMs: number; unacked: Unacked[]; last: SectionStatus | undefined }> {
  const keep = new Set(desired.map((p) => p.name));
  const target = ownWritesTarget(live);
  let good = live;
  const readGood = async (): Promise<SectionStatus | undefined> =>
    (good = (await read().catch(() => undefined)) ?? good);
  const owed = (s: SectionStatus | undefined): Unacked[] => unackedWrites(s, keep, target);
  const { waitedMs, last } = await readUntil(readGood, live, (s) => owed(s).length === 0, maxMs, 20);
  return { waitedMs, unacked: owed(last), last };
}

/** The fields of a SyncResult that report the acknowledgement wait (both backends). */
export function ackFields(acks: {
  readonly waitedMs: number;
  readonly unacked: readonly Unacked[];
}): Pick<SyncResult, 'ackWaitedMs' | 'unackedAtReload'> {
  return {
    ...(acks.waitedMs > 0 ? { ackWaitedMs: acks.waitedMs } : {}),
    ...(acks.unacked.length > 0 ? { unackedAtReload: acks.unacked } : {}),
  };
}

export class DirectBackend implements Backend {
  readonly peersFile: string;
  readonly masterSocket: string;
  readonly adminSocket: string;
  readonly #opts: DirectBackendOptions;

  constructor(opts: DirectBackendOptions) {
    this.#opts = opts;
    const paths = runtimePaths(opts.runtimeDir);
    this.peersFile = paths.peers;
    this.masterSocket = paths.masterSocket;
    this.adminSocket = paths.adminSocket;
  }

  async sync(desired: readonly Peer[]): Promise<SyncResult> {
    const began = Date.now();
    const timing: { -readonly [K in keyof SyncTiming]: SyncTiming[K] } = {};
    const content = renderPeersFile({
      localPeer: this.#opts.localPeer,
      adminSocket: this.adminSocket,
      section: this.#opts.section,
      peers: desired,
    });
    const previous = await readFile(this.peersFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new HaproxyError(ERRORS.HPS_PEERS_FILE, `reading ${this.peersFile}: ${err.message}`, { cause: err });
    });
    const fileChanged = content !== previous;
    if (fileChanged) {
      await this.#write(content);
      timing.fileWrittenMs = Date.now() - began;
    }

    const proc = await this.#showProc().catch(() => undefined);
    if (proc === undefined) {
      // HAProxy is not up yet: it will read the file we just wrote when it starts.
      const before = previous === undefined ? [] : parsePeersFile(previous).peers;
      return { running: false, fileChanged, reloaded: false, before, applied: desired, timing };
    }
    const haproxy = dialectOf(proc);
    const instance = masterInstance(proc, Date.now());
    const live = await this.showPeers();
    const before = live?.peers.map(statusToPeer) ?? [];
    timing.liveReadMs = Date.now() - began;
    if (live !== undefined && samePeers(before, desired))
      return { running: true, fileChanged, reloaded: false, before, applied: before, instance, haproxy, timing };

    const { waitedMs: resyncWaitedMs, last: resynced } = await this.#waitForResync(live, haproxy);
    const acks = await waitForAcks(() => this.showPeers(), resynced, desired, this.#opts.ackWaitMs);
    const replaced = acks.last;
    try {
      timing.reloadSentMs = Date.now() - began;
      await this.#reload(proc, haproxy, fileChanged && previous !== undefined);
      timing.reloadDoneMs = Date.now() - began;
    } catch (err) {
      if (fileChanged && previous !== undefined) await this.#write(previous).catch(() => undefined);
      throw err;
    }
    return {
      running: true,
      fileChanged,
      reloaded: true,
      before,
      applied: desired,
      resyncWaitedMs,
      ...ackFields(acks),
      instance,
      haproxy,
      timing,
      ...(replaced === undefined ? {} : { replaced }),
    };
  }

  /**
   * Seen on 2.6.12 and 3.0.11: a worker whose resync is still open (section flags without 0x1|0x2,
   * e.g. within 5 s of a fresh start with no teacher) does not teach its successor, so a reload then
   * loses the whole table. Wait until the resync is over (finished or timed out) — bounded, then reload
   * anyway. (3.0 ends it at once when there is no remote peer; 2.6 waits the 5 s.) Returns the time
   * waited and the last section read (what the worker about to be replaced holds).
   */
  async #waitForResync(
    live: SectionStatus | undefined,
    d: HaproxyDialect,
  ): Promise<{ waitedMs: number; last: SectionStatus | undefined }> {
    const over = d.sectionFlags.localResyncDone | d.sectionFlags.remoteResyncDone;
    const done = (s: SectionStatus | undefined): boolean => s === undefined || (s.flags & over) === over;
    // A `show peers` through the master costs next to nothing; the reload follows the resync's end closely.
    const read = (): Promise<SectionStatus | undefined> => this.showPeers().catch(() => undefined);
    return readUntil(read, live, done, this.#opts.resyncWaitMs ?? 6000, 25);
  }

  async showPeers(): Promise<SectionStatus | undefined> {
    return showPeers(this.masterSocket, this.#opts.section);
  }

  /** tmp + rename in the same directory: HAProxy never reads a half-written file. */
  async #write(content: string): Promise<void> {
    try {
      await writeAtomic(this.peersFile, content, 0o644);
    } catch (err) {
      throw new HaproxyError(ERRORS.HPS_PEERS_FILE, `writing ${this.peersFile}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async #showProc(): Promise<ProcInfo> {
    return showProc(this.masterSocket);
  }

  /**
   * 3.0 (`synchronous`): `reload` answers once the new worker has loaded, `Success=1`, or `Success=0`
   * with HAProxy's error lines, which the error carries. 2.6 (`silent`) answers nothing (the master
   * re-executes itself), so the result is read from `show proc`: the master's counter moves, and either
   * a new current worker appears or the failure counter is set. 3.0 falls back to that too when its
   * answer is lost.
   */
  async #reload(before: ProcInfo, d: HaproxyDialect, restoring: boolean): Promise<void> {
    const timeoutMs = this.#opts.reloadTimeoutMs ?? 15_000;
    const restored = restoring ? '; the previous file was restored' : '';
    if (d.reload === 'synchronous') {
      const answer = parseReloadAnswer(await socketCommand(this.masterSocket, 'reload', timeoutMs).catch(() => ''));
      if (answer?.success === true) return;
      if (answer?.success === false) {
        const why = failureLines(answer.log).join(' | ');
        throw new ReloadRejectedError(
          `HAProxy ${d.version} rejected the configuration (the previous worker keeps serving${restored}): ${why}`,
          answer.log,
          d.version,
        );
      }
    } else {
      await socketCommand(this.masterSocket, 'reload').catch(() => undefined); // the master may drop the connection while re-executing
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await this.#showProc().catch(() => undefined);
      const outcome = now === undefined ? 'pending' : reloadOutcome(before, now);
      if (outcome === 'succeeded') return;
      if (outcome === 'failed') {
        throw new ReloadRejectedError(
          `HAProxy ${d.version} rejected the configuration (the previous worker keeps serving${restored}); ` +
            "this version does not return its error lines: they are in the HAProxy container's log",
          [],
          d.version,
        );
      }
      if (Date.now() > deadline) throw new HaproxyError(ERRORS.HPS_RELOAD_TIMEOUT);
      await sleep(20);
    }
  }
}

function statusToPeer(s: SectionStatus['peers'][number]): Peer {
  return { name: s.name, host: s.host ?? '', port: s.port ?? 0 };
}
