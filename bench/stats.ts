/** Pure helpers of the benchmark: percentiles and the printed table. */

/** The p-th percentile (0–100) by nearest rank; NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * One scenario's figures. `fileMs`/`sectionMs`: per replica that existed before the change, from the
 * EndpointSlice change to its peers file / live peers section holding the new set. `newMs`: per new
 * replica, from its pod's start (syncer spawned) to its live section holding the full set.
 */
export interface ScenarioResult {
  readonly name: string;
  readonly replicas: number;
  readonly fileMs: readonly number[];
  readonly sectionMs: readonly number[];
  readonly newMs: readonly number[];
  /** From the change to every link of every replica established. */
  readonly linksMs: number;
  /** Reloads of the replicas that existed before the change, and of the new ones (which start with a partial set). */
  readonly reloadsMax: number;
  readonly reloadsNewMax: number;
  /** Resident set (VmRSS: private memory plus the mapped Node binary and libraries). */
  readonly rssMbMax: number;
  /** Private anonymous memory (RssAnon): what each extra sidecar really adds on a node. */
  readonly privateMbMax: number;
  /** Proportional set size (Pss): private memory plus a fair share of the pages shared with other syncers. */
  readonly pssMbMax: number;
  /** The syncer container's working set (memory cgroup usage − inactive file): what its limit is held against. */
  readonly workingSetMbMax: number;
}

/** A fixed-width table, one row per scenario. */
export function renderTable(results: readonly ScenarioResult[]): string {
  const head = ['scenario', 'replicas', 'file p50', 'file max', 'section p50', 'section max', 'new replica max', 'links up', 'reloads max (existing/new)', 'syncer RSS max', 'syncer PSS max', 'syncer private max', 'syncer working set max'];
  const rows = results.map((r) => [
    r.name, String(r.replicas), ms(percentile(r.fileMs, 50)), ms(Math.max(...r.fileMs)), ms(percentile(r.sectionMs, 50)),
    ms(Math.max(...r.sectionMs)), r.newMs.length > 0 ? ms(Math.max(...r.newMs)) : '-', ms(r.linksMs), `${r.reloadsMax}/${r.newMs.length > 0 ? r.reloadsNewMax : '-'}`, `${r.rssMbMax.toFixed(1)} MB`, `${r.pssMbMax.toFixed(1)} MB`, `${r.privateMbMax.toFixed(1)} MB`, `${r.workingSetMbMax.toFixed(1)} MB`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The closing JSON line: convergence = EndpointSlice change → every replica's live peers section updated. */
export function summary(results: readonly ScenarioResult[]): Record<string, number> {
  const all = results.flatMap((r) => r.sectionMs);
  return {
    convergence_ms_p50: Math.round(percentile(all, 50)),
    convergence_ms_max: Math.round(Math.max(...all)),
    file_ms_p50: Math.round(percentile(results.flatMap((r) => r.fileMs), 50)),
    new_replica_ms_max: Math.round(Math.max(0, ...results.flatMap((r) => r.newMs))),
    links_ms_max: Math.round(Math.max(...results.map((r) => r.linksMs))),
    reloads_per_replica_max: Math.max(...results.map((r) => Math.max(r.reloadsMax, r.reloadsNewMax))),
    reloads_per_existing_replica_max: Math.max(...results.map((r) => r.reloadsMax)),
    syncer_rss_mb_max: Number(Math.max(...results.map((r) => r.rssMbMax)).toFixed(1)),
    syncer_private_mb_max: Number(Math.max(...results.map((r) => r.privateMbMax)).toFixed(1)),
    syncer_pss_mb_max: Number(Math.max(...results.map((r) => r.pssMbMax)).toFixed(1)),
    syncer_working_set_mb_max: Number(Math.max(...results.map((r) => r.workingSetMbMax)).toFixed(1)),
  };
}

function ms(v: number): string {
  return Number.isFinite(v) ? `${Math.round(v)} ms` : '-';
}
