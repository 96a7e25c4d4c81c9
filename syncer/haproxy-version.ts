/**
 * Which HAProxy the syncer talks to, and what its answers mean in that version. Pure.
 *
 * The syncer learns the version from the master CLI (the `<version>` column of `show proc`, the same
 * string `show version` prints) and reads the section flags of `show peers` and the answer to `reload`
 * through the table below. Only versions measured here are known: HAProxy 3.0 renumbered every
 * section flag but the first three, so reading one version's answer with another's table gives wrong
 * verdicts (a 3.0 replica read with 2.6's numbers looks "resync in progress" forever). A version not in
 * the table is refused, never guessed: the caller keeps the pod un-Ready and says why.
 *
 * Sources: HAProxy 2.6.12 src/peers.c (PEERS_F_*), 3.0 include/haproxy/peers-t.h (identical in 3.0.0
 * and 3.0.11), and the behaviour measured on Debian's 2.6.12 and 3.0.11 (docs/design.md, "HAProxy
 * versions").
 */

/** Bits of the section's `flags=` in `show peers` that the syncer reads. */
export interface SectionFlags {
  /** Local (old worker) / remote resync over: finished **or** timed out. Same bits in 2.6 and 3.0. */
  readonly localResyncDone: number;
  readonly remoteResyncDone: number;
  /** A lesson is assigned right now. */
  readonly resyncAssigned: number;
  /** Taught by the old local worker after a reload / by a remote peer, which said "finished". */
  readonly localFinished: number;
  readonly remoteFinished: number;
  /** The resync gave up waiting for a teacher (timed out). */
  readonly localTimeout: number;
  readonly remoteTimeout: number;
  /** The teacher was only partly up to date. */
  readonly localPartial: number;
  readonly remotePartial: number;
  /** A lesson was aborted. */
  readonly localAborted: number;
  readonly remoteAborted: number;
  /** A teacher was assigned at least once. */
  readonly localAssigned: number;
  readonly remoteAssigned: number;
}

/** Everything that differs between the HAProxy versions the syncer knows. */
export interface HaproxyDialect {
  /** `major.minor`, e.g. `3.0`. */
  readonly branch: string;
  /** The full version string HAProxy reported, e.g. `3.0.11-1+deb13u5`. */
  readonly version: string;
  readonly sectionFlags: SectionFlags;
  /**
   * `reload` on the master CLI: `synchronous` (3.0) answers once the new worker loaded, with
   * `Success=1|0`, `--` and the master's load log (HAProxy's own error lines when it failed);
   * `silent` (2.6) answers nothing, so the result is read from `show proc` (reload and failure counters).
   */
  readonly reload: 'synchronous' | 'silent';
  /** `show peers` gives each peer `app_state=` and `learn_state=` (3.0). */
  readonly peerStates: boolean;
  /**
   * With no remote peer at all, the resync is over at once (3.0: `0x300003` at start) or only after the
   * fixed 5 s timeout (2.6: `0x11`, then `0x33`). A reload in that window loses the table on 2.6.
   */
  readonly aloneResyncAtOnce: boolean;
  /** The `[date]` of the `show peers` header is the wall clock (2.6) or a fixed date (3.0: never read). */
  readonly headerDateIsClock: boolean;
}

/** HAProxy 2.6 (src/peers.c): history and state mixed in the low 16 bits. */
const FLAGS_2_6: SectionFlags = {
  localResyncDone: 0x1,
  remoteResyncDone: 0x2,
  resyncAssigned: 0x4,
  localTimeout: 0x10,
  remoteTimeout: 0x20,
  localAborted: 0x40,
  remoteAborted: 0x80,
  localFinished: 0x100,
  remoteFinished: 0x200,
  localPartial: 0x400,
  remotePartial: 0x800,
  localAssigned: 0x1000,
  remoteAssigned: 0x2000,
};

/**
 * HAProxy 3.0 (include/haproxy/peers-t.h): only 0x1, 0x2 and 0x4 are state; the bits from 0x00100000 up
 * record that an event happened at least once in this worker and are never cleared.
 */
const FLAGS_3_0: SectionFlags = {
  localResyncDone: 0x1,
  remoteResyncDone: 0x2,
  resyncAssigned: 0x4,
  localTimeout: 0x0010_0000,
  remoteTimeout: 0x0020_0000,
  localAborted: 0x0040_0000,
  remoteAborted: 0x0080_0000,
  localFinished: 0x0100_0000,
  remoteFinished: 0x0200_0000,
  localPartial: 0x0400_0000,
  remotePartial: 0x0800_0000,
  localAssigned: 0x1000_0000,
  remoteAssigned: 0x2000_0000,
};

const BRANCHES: Readonly<Record<string, Omit<HaproxyDialect, 'version'>>> = {
  '2.6': {
    branch: '2.6',
    sectionFlags: FLAGS_2_6,
    reload: 'silent',
    peerStates: false,
    aloneResyncAtOnce: false,
    headerDateIsClock: true,
  },
  '3.0': {
    branch: '3.0',
    sectionFlags: FLAGS_3_0,
    reload: 'synchronous',
    peerStates: true,
    aloneResyncAtOnce: true,
    headerDateIsClock: false,
  },
};

/** The branches the syncer knows (and the tests run against: Debian's 2.6.12 and 3.0.11). */
export const KNOWN_BRANCHES: readonly string[] = Object.keys(BRANCHES);

export type DialectResult =
  | { readonly known: true; readonly dialect: HaproxyDialect }
  | { readonly known: false; readonly version: string; readonly reason: string };

/**
 * The dialect of a version string as HAProxy prints it (`2.6.12-1+deb12u4`, `3.0.11`, `3.1-dev4`).
 * A release of a known branch is known whatever its patch level or distribution suffix; a development
 * snapshot (`-dev`) or another branch is not.
 */
export function dialectFor(version: string): DialectResult {
  const v = version.trim();
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(?:[-+~](.*))?$/.exec(v);
  const refuse = (why: string): DialectResult => ({
    known: false,
    version: v,
    reason: `HAProxy ${v === '' ? '(no version reported)' : v} is not a version this syncer knows (${why}; known: ${KNOWN_BRANCHES.join(', ')}): its section flags are not interpreted, so this replica stays un-Ready`,
  });
  if (m === null) return refuse('unreadable version');
  const branch = `${m[1]}.${m[2]}`;
  if (m[4]?.startsWith('dev') === true || m[3] === undefined) return refuse(`a development snapshot of ${branch}`);
  const known = BRANCHES[branch];
  if (known === undefined) return refuse(`branch ${branch}`);
  return { known: true, dialect: { ...known, version: v } };
}

/** Names of the set bits the syncer knows, for logs (`remoteFinished|localTimeout|…`), plus any unknown rest in hex. */
export function describeSectionFlags(flags: number, d: HaproxyDialect): string {
  const names: string[] = [];
  let rest = flags;
  for (const [name, bit] of Object.entries(d.sectionFlags) as [string, number][]) {
    if ((flags & bit) !== 0) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) names.push(`0x${(rest >>> 0).toString(16)}`);
  return names.length === 0 ? 'none' : names.join('|');
}
