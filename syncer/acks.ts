/**
 * Before a reload: which of this worker's own stick-table writes the other replicas have not
 * acknowledged yet. Pure.
 *
 * Why it matters (HAProxy 2.6 and 3.0 peers.c, stick_table.c): a worker pushes to a peer only its own
 * writes, one by one, from the last one that peer acknowledged, and numbers what it learned (from a
 * peer, or from the worker it replaced) beyond them, so learned entries are never pushed one by one.
 * On a reload the old worker hands its whole table to the new one, which holds it as learned: any own
 * write a peer had not acknowledged by then never reaches that peer, for good. That happens when the
 * peer was reloading itself or reconnecting at that moment — a scale-out reloads every replica at
 * about the same time. Waiting, bounded, until each peer acknowledged what was written before the
 * reload closes that window.
 */
import type { SectionStatus } from './show-peers.ts';

/** One table of one peer that still lacks some of this worker's writes. */
export interface Unacked {
  readonly peer: string;
  readonly table: string;
  /** How many of this worker's writes (up to the target) it has not acknowledged. */
  readonly writes: number;
}

/** The last own write of each table, as the worker reports it: what the peers must acknowledge. */
export function ownWritesTarget(section: SectionStatus | undefined): ReadonlyMap<string, number> {
  const target = new Map<string, number>();
  for (const p of section?.peers ?? []) {
    for (const t of p.tables ?? []) target.set(t.id, t.localUpdate);
  }
  return target;
}

/** `a - b` on HAProxy's 32-bit update counters; a "negative" distance (b ahead of a) is 0. */
function behind(target: number, acked: number): number {
  const d = (target - acked) >>> 0;
  return d >= 2 ** 31 ? 0 : d;
}

/**
 * The peers among `keep` (the peers that stay declared after the reload) that have held a session with
 * this worker and not yet acknowledged its writes up to `target`. A peer that never held one (a new
 * replica, or one that never came up) is not waited for: it learns the whole table in its own resync.
 */
export function unackedWrites(
  section: SectionStatus | undefined,
  keep: ReadonlySet<string>,
  target: ReadonlyMap<string, number>,
): Unacked[] {
  const out: Unacked[] = [];
  for (const p of section?.peers ?? []) {
    if (p.local || !keep.has(p.name)) continue;
    for (const t of p.tables ?? []) {
      const heldSession = p.lastStatus === 'ESTA' || t.acked > 0;
      const writes = behind(target.get(t.id) ?? t.localUpdate, t.acked);
      if (heldSession && writes > 0) out.push({ peer: p.name, table: t.id, writes });
    }
  }
  return out;
}
