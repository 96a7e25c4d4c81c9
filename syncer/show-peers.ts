/**
 * Parses `show peers` (admin socket or `@1 show peers` on the master CLI) and decides whether this
 * replica's tables have really been taught. Pure.
 *
 * Format: HAProxy 2.6 (management guide, "show peers"); 3.x adds fields (`app_state=`, `learn_state=`)
 * on the same lines, which are ignored, so the parser tolerates both.
 */
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
}

/** One peers section as `show peers` reports it. */
export interface SectionStatus {
  readonly name: string;
  readonly flags: number;
  readonly peers: readonly PeerStatus[];
}

/** Section flags of HAProxy 2.6 (src/peers.c, PEERS_F_*). */
export const SECTION_FLAGS = {
  localResyncDone: 0x1,
  remoteResyncDone: 0x2,
  localTimeout: 0x10,
  remoteTimeout: 0x20,
  localFinished: 0x100,
  remoteFinished: 0x200,
} as const;

/** Every section in the output, in order. */
export function parseShowPeers(text: string): SectionStatus[] {
  const sections: { name: string; flags: number; peers: PeerStatus[] }[] = [];
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
      current.peers.push({
        name: peer[1] ?? '', local: peer[2] === 'local', active: peer[3] === 'active',
        host: addr?.host, port: addr?.port, lastStatus: /\blast_status=(\S+)/.exec(line)?.[1] ?? '', state: undefined,
      });
      continue;
    }
    // "flags=0x200 appctx:0x.. st0=7 st1=0 task_calls=5 state=EST" belongs to the last peer.
    const state = /\bstate=(\w+)/.exec(line);
    const last = current?.peers.at(-1);
    if (state && last && /^\s+flags=/.test(line) && current) {
      current.peers[current.peers.length - 1] = { ...last, state: state[1] };
    }
  }
  return sections;
}

/** A link counts as up when HAProxy says the last handshake succeeded and the peer is active. */
export function isEstablished(p: PeerStatus): boolean {
  return !p.local && p.active && p.lastStatus === 'ESTA';
}

/** Why a replica is (not) considered taught; the reason goes to logs and /readyz bodies. */
export interface TaughtVerdict {
  readonly taught: boolean;
  readonly reason: string;
}

/**
 * Has this replica's table been taught? (Issue 3, "Health".)
 *
 * The section's "resync done" bit (0x2) is also set when the resync merely timed out (0x20), so it
 * proves nothing while another replica could have taught us. The rules:
 * - no other replica in the desired set: nothing to learn → taught;
 * - no other replica is Ready (a fresh roll-out where all start together), now or when this replica
 *   started (`noReadyOtherAtStart`: the others then answered "partial" and became Ready later, their
 *   updates reaching us live over the established links): no one held data that served traffic, so a
 *   finished-or-timed-out resync (0x2) is enough — else they would wait for each other forever;
 * - otherwise: a teacher said "finished" (0x200 remote, or 0x100 the old process after a reload, which
 *   only says "finished" when it was itself done), and every Ready other replica's link is ESTA.
 * @param others the desired peers except this pod (with their `ready` condition)
 * @param noReadyOtherAtStart no other replica was Ready when this replica's HAProxy started
 */
export function taughtVerdict(section: SectionStatus | undefined, others: readonly Peer[], noReadyOtherAtStart = false): TaughtVerdict {
  if (section === undefined) return { taught: false, reason: 'peers section not loaded by HAProxy' };
  if (others.length === 0) return { taught: true, reason: 'no other replica to learn from' };
  const f = section.flags;
  const readyOthers = others.filter((p) => p.ready === true);
  if (readyOthers.length === 0) {
    return (f & SECTION_FLAGS.remoteResyncDone) !== 0
      ? { taught: true, reason: 'no other replica is ready; resync over' }
      : { taught: false, reason: 'waiting for the resync to finish' };
  }
  const finished = (f & (SECTION_FLAGS.remoteFinished | SECTION_FLAGS.localFinished)) !== 0;
  const overWithNoReadyTeacher = noReadyOtherAtStart && (f & SECTION_FLAGS.remoteResyncDone) !== 0;
  if (!finished && !overWithNoReadyTeacher) {
    return { taught: false, reason: (f & SECTION_FLAGS.remoteTimeout) !== 0 ? 'resync timed out without a teacher' : 'resync in progress' };
  }
  const byName = new Map(section.peers.map((p) => [p.name, p]));
  const down = readyOthers.filter((p) => { const s = byName.get(p.name); return s === undefined || !isEstablished(s); }).map((p) => p.name);
  if (down.length > 0) return { taught: false, reason: `links not established: ${down.join(', ')}` };
  return { taught: true, reason: finished ? 'taught by a peer; links established' : 'started with no ready replica; resync over; links established' };
}
