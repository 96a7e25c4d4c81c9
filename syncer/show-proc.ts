/**
 * Parses the master CLI's `show proc` and judges a reload from two readings. Pure.
 *
 * 2.6 prints the master line as `<pid> master <reloads> [failed: N] <uptime> <version>`, then
 * `# workers` (the current one) and `# old workers` (still draining). `reloads` counts every reload
 * attempt, failed ones included; `failed` counts the failures since the last successful load.
 */

export interface ProcInfo {
  readonly masterPid: number;
  readonly reloads: number;
  readonly failed: number;
  /** Current workers (the `# workers` block). */
  readonly workers: readonly number[];
  /** Workers of earlier generations still finishing their connections. */
  readonly oldWorkers: readonly number[];
}

/** Undefined when the text has no master line (not a master CLI, or a truncated answer). */
export function parseShowProc(text: string): ProcInfo | undefined {
  let master: { pid: number; reloads: number; failed: number } | undefined;
  const workers: number[] = [];
  const oldWorkers: number[] = [];
  let block: 'workers' | 'old' | 'other' = 'other';
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('#')) {
      block = /^#\s*workers/.test(t) ? 'workers' : /^#\s*old workers/.test(t) ? 'old' : 'other';
      continue;
    }
    const m = /^(\d+)\s+master\s+(\d+)(?:\s*\[failed:\s*(\d+)\])?/.exec(t);
    if (m) { master = { pid: Number(m[1]), reloads: Number(m[2]), failed: Number(m[3] ?? 0) }; continue; }
    const w = /^(\d+)\s+worker\b/.exec(t);
    if (w) (block === 'old' ? oldWorkers : workers).push(Number(w[1]));
  }
  if (master === undefined) return undefined;
  return { masterPid: master.pid, reloads: master.reloads, failed: master.failed, workers, oldWorkers };
}

export type ReloadOutcome = 'pending' | 'succeeded' | 'failed';

/**
 * Compares `show proc` before and after a `reload`: the reload is over once the master's counter
 * moved; it failed when the failure counter is non-zero (the old worker keeps serving), and it
 * succeeded when a new current worker exists.
 */
export function reloadOutcome(before: ProcInfo, after: ProcInfo): ReloadOutcome {
  // A new master means HAProxy restarted (container restart): it read the current file at start.
  if (after.masterPid !== before.masterPid) return after.workers.length > 0 ? 'succeeded' : 'pending';
  if (after.reloads <= before.reloads) return 'pending';
  if (after.failed > 0) return 'failed';
  const fresh = after.workers.some((pid) => !before.workers.includes(pid));
  return fresh ? 'succeeded' : 'pending';
}
