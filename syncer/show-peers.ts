/**
 * Parses `show peers` (admin socket or `@1 show peers` on the master CLI) and decides whether this
 * replica's tables have really been taught. Pure.
 *
 * Format: HAProxy 2.6 (management guide, "show peers"); 3.0 inserts `app_state=` and `learn_state=` in
 * each peer line, and its header date is not the wall clock. Fields are matched by name, so one parser
 * reads both; what the section's `flags=` mean depends on the version (haproxy-version.ts), so the
 * verdict takes the dialect.
 */
import type { HaproxyDialect } from './haproxy-version.ts';
import type { Peer } from './peers.ts';
import { splitAddress } from './peers.ts';

/** One peer line of a section. */
export interface PeerStatus {
  readonly name: string;
  readonly local: boolean;
  readonly active: boolean;
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** `ESTA`, `UNKN`, `CONN`, `NONE`, … (HAProxy's last handshake status). */
  readonly lastStatus: string;
  /** `EST` when an applet currently carries the link, else undefined. */
  readonly state: string | undefined;
  /** 3.0: `STOPPED`, `STARTING`, `RUNNING` or `STOPPING` (the applet's state); absent in 2.6. */
  readonly appState?: string;
  /** 3.0: `NOTASSIGNED`, `ASSIGNED`, `PROCESSING` or `FINISHED` (a lesson from this peer); absent in 2.6. */
  readonly learnState?: string;
  /** Each stick-table shared with this peer: how far it acknowledged this worker's own writes. */
  readonly tables?: readonly SharedTable[];
}

/**
 * One table as a peer's "shared tables" lines show it: `update=` on the per-peer line is the last of
 * this worker's own writes that the peer acknowledged; `localupdate=` on the table line is this worker's
 * last own write. Learned entries are numbered past `localupdate` and are never pushed one by one, so
 * the difference is what the peer still lacks of this worker's writes (32-bit counters).
 */
export interface SharedTable {
  readonly id: string;
  readonly acked: number;
  readonly localUpdate: number;
}

/** One peers section as `show peers` reports it. */
export interface SectionStatus {
  readonly name: string;
  readonly flags: number;
  readonly peers: readonly PeerStatus[];
}

/** Every section in the output, in order. */
export function parseShowPeers(text: string): SectionStatus[] {
  const sections: { name: string; flags: number; peers: PeerStatus[] }[] = [];
  let pendingAck: number | undefined;
  for (const line of text.split('\n')) {
    // A section header starts at column 0: "0x..: [date] id=NAME disabled=0 flags=0x6891 ...".
    const header = /^0x[0-9a-f]+: \[[^\]]*\] id=(\S+) .*?\bflags=(0x[0-9a-fA-F]+)/.exec(line);
    if (header?.[1] !== undefined && header[2] !== undefined) {
      sections.push({ name: header[1], flags: Number.parseInt(header[2], 16), peers: [] });
      continue;
    }
    // Fields are matched one by one: 3.x inserts app_state=/learn_state= between them.
    const peer = /^\s+0x[0-9a-f]+: id=([^(\s]+)\((local|remote),(active|inactive)\)/.exec(line);
    const current = sections.at(-1);
    if (peer && current) {
      const addr = splitAddress(/\baddr=(\S+)/.exec(line)?.[1] ?? '');
      const appState = /\bapp_state=(\S+)/.exec(line)?.[1];
      const learnState = /\blearn_state=(\S+)/.exec(line)?.[1];
      current.peers.push({
        name: peer[1] ?? '',
        local: peer[2] === 'local',
        active: peer[3] === 'active',
        host: addr?.host,
        port: addr?.port,
        lastStatus: /\blast_status=(\S+)/.exec(line)?.[1] ?? '',
        state: undefined,
        ...(appState === undefined ? {} : { appState }),
        ...(learnState === undefined ? {} : { learnState }),
      });
      continue;
    }
    const last = current?.peers.at(-1);
    // "last_acked=0 last_pushed=0 last_get=0 teaching_origin=0 update=7", then "table:0x.. id=st update=9
    // localupdate=7 …": one shared table of the last peer.
    const acked = /^\s+last_acked=\d+ .*\bupdate=(\d+)/.exec(line);
    if (acked?.[1] !== undefined && last && current) {
      pendingAck = Number(acked[1]);
      continue;
    }
    const table = /^\s+table:0x[0-9a-f]+ id=(\S+) .*\blocalupdate=(\d+)/.exec(line);
    if (table?.[1] !== undefined && table[2] !== undefined && pendingAck !== undefined && last && current) {
      const entry: SharedTable = { id: table[1], acked: pendingAck, localUpdate: Number(table[2]) };
      current.peers[current.peers.length - 1] = { ...last, tables: [...(last.tables ?? []), entry] };
      pendingAck = undefined;
      continue;
    }
    // "flags=0x200 appctx:0x.. st0=7 st1=0 task_calls=5 state=EST" belongs to the last peer.
    const state = /\bstate=(\w+)/.exec(line);
    if (state && last && /^\s+flags=/.test(line) && current) {
      current.peers[current.peers.length - 1] = { ...last, state: state[1] };
    }
  }
  return sections;
}

/**
 * A session is up right now when HAProxy says the last handshake succeeded and the peer is active — and,
 * on 3.0, its applet is `RUNNING` (seen: a peer being dialled shows `(remote,active)` with
 * `app_state=STOPPED` and `last_status=CONN`; a dead peer shows `inactive` for a moment with the old
 * `ESTA`, in both versions). The harness's "fully meshed" check; readiness uses handshakeAccepted.
 */
export function isEstablished(p: PeerStatus): boolean {
  return !p.local && p.active && p.lastStatus === 'ESTA' && (p.appState === undefined || p.appState === 'RUNNING');
}

/**
 * Why a replica is (not) taught, as a kind to branch on; verdictReason makes the sentence for logs and
 * /readyz from it. Not taught:
 * - `no-section`: HAProxy has not loaded the peers section;
 * - `resync-unfinished`: no other replica is ready, and the resync is not over yet;
 * - `resync-in-progress`: ready replicas exist and none has taught this one yet;
 * - `resync-timed-out`: the resync ended without a teacher while ready replicas exist (HAProxy does
 *   not ask again: only a restart teaches it now);
 * - `reload-passed-untaught`: the same, then a reload handed the untaught table to a new worker;
 * - `links-down`: taught, but some ready replica has not accepted our handshake.
 * Taught: `alone` (no other replica), `no-ready-other` (none ready, resync over), `by-peer`,
 * `by-previous-worker` (itself taught), `started-with-no-ready-other` (links established).
 */
export type VerdictKind =
  | 'no-section'
  | 'resync-unfinished'
  | 'resync-in-progress'
  | 'resync-timed-out'
  | 'reload-passed-untaught'
  | 'links-down'
  | 'alone'
  | 'no-ready-other'
  | 'by-peer'
  | 'by-previous-worker'
  | 'started-with-no-ready-other';

/** Kinds after which only a restart of HAProxy can teach the replica: worth an operator's attention. */
export const NEEDS_RESTART: ReadonlySet<VerdictKind> = new Set(['resync-timed-out', 'reload-passed-untaught']);

export interface TaughtVerdict {
  readonly taught: boolean;
  /**
   * This worker's table holds what the other replicas could teach it (a teacher finished, or there was
   * no one to learn from), whatever its links: what a reload of this worker hands on to the next one.
   */
  readonly tableTaught: boolean;
  readonly kind: VerdictKind;
  /** The ready replicas whose link is not up, each with what HAProxy says of it (linkProblem). */
  readonly linksDown: readonly string[];
}

const SENTENCES: Readonly<Record<VerdictKind, string>> = {
  'no-section': 'peers section not loaded by HAProxy',
  'resync-unfinished': 'waiting for the resync to finish',
  'resync-in-progress': 'resync in progress',
  'resync-timed-out': 'resync timed out without a teacher',
  'reload-passed-untaught': 'resync timed out without a teacher, then a reload passed the untaught table on',
  'links-down': 'links not established',
  alone: 'no other replica to learn from',
  'no-ready-other': 'no other replica is ready; resync over',
  'by-peer': 'taught by a peer; links established',
  'by-previous-worker': 'taught by the previous worker, itself taught; links established',
  'started-with-no-ready-other': 'started with no ready replica; resync over; links established',
};

/** The verdict as a sentence, for logs and the /readyz body: the kind's words and the links that are down. */
export function verdictReason(v: TaughtVerdict): string {
  const sentence = SENTENCES[v.kind];
  if (v.linksDown.length === 0) return sentence;
  return v.kind === 'links-down'
    ? `${sentence}: ${v.linksDown.join(', ')}`
    : `${sentence}; no link to ready replicas: ${v.linksDown.join(', ')}`;
}

/**
 * What the syncer knows of the running worker that `show peers` does not say. HAProxy's section flags
 * describe one worker: after a reload, "taught by the old worker" (2.6 0x100, 3.0 0x01000000) says the
 * lesson ended, not that the old worker had anything to teach — it says "finished" even when it was
 * never taught itself (its own resync only timed out). Only the caller, which makes every reload and
 * tells a reload from a restart (`show proc`), can tell.
 */
export interface WorkerHistory {
  /** No other replica was Ready when this HAProxy (its master) was first seen running. */
  readonly noReadyOtherAtStart?: boolean;
  /**
   * Whether the worker this one replaced (a reload of the same master) had its table taught
   * (`tableTaught` of that worker); false when it had not, or for the first worker of a master (a started
   * or restarted HAProxy). Undefined when the caller did not see that reload (it started later): HAProxy's
   * "taught by the old worker" is then taken at its word.
   */
  readonly predecessorTaught?: boolean;
}

/** What a handshake status says about a peer that does not teach us (HAProxy's peers.c codes). */
const STATUS_MEANING: Readonly<Record<string, string>> = {
  UNKN: 'it does not declare this replica',
  NAME: 'it knows itself under another name',
  CONN: 'connecting',
  HSHK: 'handshake under way',
  NONE: 'never connected',
  RETR: 'asked to retry',
  PROT: 'protocol error',
  VERS: 'peers protocol version mismatch',
};

/**
 * For readiness, a Ready replica's link counts once its last handshake was accepted (`last_status=ESTA`),
 * even while that session is closed for a moment: HAProxy redials such a peer by itself, and on every new
 * session it pushes again what the peer has not acknowledged (peers.c: `last_pushed = update`), so nothing
 * written in between is lost. Seen in both versions: a replica that joins is dialled by its peers while it
 * dials them, and the collision closes one link or both for 0.5–1 s right after the lesson (`(remote,
 * inactive)`, `ESTA`, 3.0 `app_state=STOPPED`). What never heals by itself: UNKN, NAME, PROT, VERS, RETR
 * (the caller does not retry) — and CONN / NONE is no link yet.
 */
export function handshakeAccepted(p: PeerStatus): boolean {
  return !p.local && p.lastStatus === 'ESTA';
}

/** `web-1 (UNKN: it does not declare this replica)`; `web-2 (not in the live section)`. */
function linkProblem(name: string, s: PeerStatus | undefined): string {
  if (s === undefined) return `${name} (not in HAProxy's live section)`;
  const meaning = STATUS_MEANING[s.lastStatus];
  return `${name} (${s.lastStatus}${meaning === undefined ? '' : `: ${meaning}`})`;
}

/**
 * Has this replica's table been taught? (Issue 3, "Health"; issue 9 for the versions.)
 *
 * The section's "resync done" bit (0x2, the same in 2.6 and 3.0) is also set when the resync merely
 * timed out, so it proves nothing while another replica could have taught us. The rules:
 * - no other replica in the desired set: nothing to learn → taught;
 * - no other replica is Ready (a fresh roll-out where all start together), now or when this replica
 *   started (`noReadyOtherAtStart`: the others then answered "partial" and became Ready later, their
 *   updates reaching us live over the established links): no one held data that served traffic, so a
 *   finished-or-timed-out resync is enough — else they would wait for each other forever;
 * - otherwise: a remote teacher said "finished" (2.6 0x200, 3.0 0x02000000), or the old worker taught
 *   this one after a reload (2.6 0x100, 3.0 0x01000000) **and** its own table had been taught
 *   (`predecessorTaught`; taken at HAProxy's word only when the caller could not see it) — and every
 *   Ready other replica accepted our handshake (handshakeAccepted: it declares us and its updates reach us).
 * Seen on 2.6.12 and 3.0.11: an old worker that was never taught (an HAProxy started before its peers
 * file named the other replicas, its resync over with no one to ask, then reloaded: sidecar-mode
 * `regular`) still teaches its successor and marks the lesson "finished", with an empty table. The new
 * worker then asks no remote peer: like a timed-out resync, it stays untaught until HAProxy restarts,
 * and the verdict says so (`reload-passed-untaught`).
 * A verdict that is not "taught" lists the Ready replicas whose link is not up and what HAProxy says of it.
 * @param dialect what the flags mean in the running HAProxy (haproxy-version.ts)
 * @param others the desired peers except this pod (with their `ready` condition)
 * @param history what the caller knows of this worker beyond its flags (see WorkerHistory)
 */
export function taughtVerdict(
  section: SectionStatus | undefined,
  dialect: HaproxyDialect,
  others: readonly Peer[],
  history: WorkerHistory = {},
): TaughtVerdict {
  const verdict = (
    kind: VerdictKind,
    taught: boolean,
    tableTaught: boolean,
    linksDown: readonly string[] = [],
  ): TaughtVerdict => ({ taught, tableTaught, kind, linksDown });
  if (section === undefined) return verdict('no-section', false, false);
  if (others.length === 0) return verdict('alone', true, true);
  const f = section.flags;
  const F = dialect.sectionFlags;
  const over = (f & F.remoteResyncDone) !== 0;
  const readyOthers = others.filter((p) => p.ready === true);
  if (readyOthers.length === 0)
    return over ? verdict('no-ready-other', true, true) : verdict('resync-unfinished', false, false);
  const byName = new Map(section.peers.map((p) => [p.name, p]));
  const down = readyOthers
    .filter((p) => {
      const s = byName.get(p.name);
      return s === undefined || !handshakeAccepted(s);
    })
    .map((p) => linkProblem(p.name, byName.get(p.name)));
  const byRemote = (f & F.remoteFinished) !== 0;
  const byOldWorker = (f & F.localFinished) !== 0;
  const byTaughtOldWorker = byOldWorker && history.predecessorTaught !== false;
  const overWithNoReadyTeacher = history.noReadyOtherAtStart === true && over;
  if (!byRemote && !byTaughtOldWorker && !overWithNoReadyTeacher) {
    if (byOldWorker) return verdict('reload-passed-untaught', false, false, down);
    if ((f & F.remoteTimeout) !== 0) return verdict('resync-timed-out', false, false, down);
    return verdict('resync-in-progress', false, false, down);
  }
  if (down.length > 0) return verdict('links-down', false, true, down);
  return verdict(
    byRemote ? 'by-peer' : byTaughtOldWorker ? 'by-previous-worker' : 'started-with-no-ready-other',
    true,
    true,
  );
}
