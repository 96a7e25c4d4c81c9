/** Pure helpers of the benchmarks: percentiles, the printed table, the JSON line over repeated runs. */

/** The p-th percentile (0–100) by nearest rank; NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * Where a new replica's time goes, each stage as the first moment this process saw it (ms since epoch;
 * undefined when not seen). `seen`: the pod first listed (its creationTimestamp has whole seconds only).
 */
export interface NewReplicaTimes {
  readonly seen: number;
  /** spec.nodeName set. */
  readonly scheduled?: number;
  /** status.podIP set: sandbox and network up. */
  readonly ip?: number;
  /** The init container (first peers file, credentials) reported terminated. */
  readonly initDone?: number;
  /** The syncer's health server answered (any status): the sidecar runs. */
  readonly syncerStarted?: number;
  /** The syncer's /startupz answered 200: the start-up gate is open, the kubelet may start HAProxy. */
  readonly gateOpen?: number;
  /** HAProxy's master CLI answered. */
  readonly haproxyStarted?: number;
  /** Its live peers section holds the whole replica set. */
  readonly sectionComplete?: number;
  /** The pod's Ready condition True (the syncer's /readyz: tables taught). */
  readonly ready?: number;
}

/** The stages in order, with their names in the JSON line (`new_replica_<name>_ms_p50`). */
export const NEW_REPLICA_STAGES = [
  ['scheduled', 'scheduled'],
  ['ip', 'ip'],
  ['initDone', 'init_done'],
  ['syncerStarted', 'syncer_started'],
  ['gateOpen', 'gate_open'],
  ['haproxyStarted', 'haproxy_started'],
  ['sectionComplete', 'section_complete'],
  ['ready', 'ready'],
] as const satisfies readonly (readonly [keyof NewReplicaTimes, string])[];

/**
 * One scenario's figures. `fileMs`/`sectionMs`: per replica that existed before the change, from the
 * EndpointSlice change to its peers file / live peers section holding the new set. `newMs`: per new
 * replica, from its pod's start (syncer spawned) to its live section holding the full set.
 */
export interface ScenarioResult {
  readonly name: string;
  readonly replicas: number;
  /**
   * From the scale command to the slices declaring the final set (the change the other figures start
   * from): new pods created and given an IP, or leaving pods drained and stopped.
   */
  readonly declaredAfterMs?: number;
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
  /** Per new replica, where its time from creation to Ready went. */
  readonly fresh?: readonly NewReplicaTimes[];
  /**
   * CPU seconds spent during the scenario (bench/cpu-accounting.ts): `existing_pods`, `new_pods` (each
   * whole pod: init container, syncer, HAProxy), `new_syncers` (their syncer containers alone), and the
   * node's own processes by name.
   */
  readonly cpuSeconds?: Readonly<Record<string, number>>;
}

/** A fixed-width table, one row per scenario. */
export function renderTable(results: readonly ScenarioResult[]): string {
  const head = [
    'scenario',
    'replicas',
    'declared after',
    'file p50',
    'file max',
    'section p50',
    'section max',
    'new replica max',
    'links up',
    'reloads max (existing/new)',
    'syncer RSS max',
    'syncer PSS max',
    'syncer private max',
    'syncer working set max',
  ];
  const rows = results.map((r) => [
    r.name,
    String(r.replicas),
    r.declaredAfterMs === undefined ? '-' : ms(r.declaredAfterMs),
    ms(percentile(r.fileMs, 50)),
    ms(Math.max(...r.fileMs)),
    ms(percentile(r.sectionMs, 50)),
    ms(Math.max(...r.sectionMs)),
    r.newMs.length > 0 ? ms(Math.max(...r.newMs)) : '-',
    ms(r.linksMs),
    `${r.reloadsMax}/${r.newMs.length > 0 ? r.reloadsNewMax : '-'}`,
    `${r.rssMbMax.toFixed(1)} MB`,
    `${r.pssMbMax.toFixed(1)} MB`,
    `${r.privateMbMax.toFixed(1)} MB`,
    `${r.workingSetMbMax.toFixed(1)} MB`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A pod's stages in order: the field holding when it was reached, and its name in the JSON line. */
export type Stages<T> = readonly (readonly [keyof T, string])[];

/** Per stage, the times from `seen` of the new replicas that reached it. */
export function newReplicaStageMs<T extends { readonly seen: number }>(
  fresh: readonly T[],
  stages: Stages<T>,
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [key, name] of stages) {
    out.set(
      name,
      fresh.flatMap((f) => {
        const at = f[key];
        return typeof at === 'number' ? [Math.max(0, at - f.seen)] : [];
      }),
    );
  }
  return out;
}

/**
 * One run's figures for the JSON line. convergence = EndpointSlice change → every existing replica's live
 * peers section updated; `burst` names the scenario whose reloads the issue bounds (3 → 20); the `lone`
 * scenarios (one pod in or out) are summarised apart, as `lone_*`.
 */
export function summary(
  scenarios: readonly ScenarioResult[],
  burst?: string,
  lone: readonly string[] = [],
): Record<string, number> {
  const results = scenarios.filter((r) => !lone.includes(r.name));
  const all = results.flatMap((r) => r.sectionMs);
  const burstResult = results.find((r) => r.name === burst);
  const stages = newReplicaStageMs(
    results.flatMap((r) => r.fresh ?? []),
    NEW_REPLICA_STAGES,
  );
  const out: Record<string, number> = {
    convergence_ms_p50: Math.round(percentile(all, 50)),
    convergence_ms_max: Math.round(Math.max(...all)),
    file_ms_p50: Math.round(
      percentile(
        results.flatMap((r) => r.fileMs),
        50,
      ),
    ),
    new_replica_ms_max: Math.round(Math.max(0, ...results.flatMap((r) => r.newMs))),
    links_ms_max: Math.round(Math.max(...results.map((r) => r.linksMs))),
    reloads_per_replica_max: Math.max(...results.map((r) => Math.max(r.reloadsMax, r.reloadsNewMax))),
    reloads_per_existing_replica_max: burstResult?.reloadsMax ?? Math.max(...results.map((r) => r.reloadsMax)),
    syncer_rss_mb_max: Number(Math.max(...results.map((r) => r.rssMbMax)).toFixed(1)),
    syncer_private_mb_max: Number(Math.max(...results.map((r) => r.privateMbMax)).toFixed(1)),
    syncer_pss_mb_max: Number(Math.max(...results.map((r) => r.pssMbMax)).toFixed(1)),
    syncer_working_set_mb_max: Number(Math.max(...results.map((r) => r.workingSetMbMax)).toFixed(1)),
  };
  for (const [name, values] of stages) {
    if (values.length > 0) out[`new_replica_${name}_ms_p50`] = Math.round(percentile(values, 50));
  }
  for (const [name, seconds] of Object.entries(burstResult?.cpuSeconds ?? {}))
    out[`burst_cpu_s_${name.replaceAll('-', '_')}`] = Math.round(seconds * 100) / 100;
  // One pod added or removed at a time (a rollout's step): apart, so the bursts' figures stay comparable.
  const single = scenarios.filter((r) => lone.includes(r.name));
  if (single.length > 0) {
    const sections = single.flatMap((r) => r.sectionMs);
    out['lone_convergence_ms_p50'] = Math.round(percentile(sections, 50));
    out['lone_convergence_ms_max'] = Math.round(Math.max(...sections));
    const ready =
      newReplicaStageMs(
        single.flatMap((r) => r.fresh ?? []),
        NEW_REPLICA_STAGES,
      ).get('ready') ?? [];
    if (ready.length > 0) out['lone_new_replica_ready_ms_p50'] = Math.round(percentile(ready, 50));
  }
  return out;
}

/**
 * Repeated runs → one JSON object: every figure as the median over the runs (nearest rank: the middle
 * run of an odd count, the lower middle of an even one), with its spread as `<name>_min` / `<name>_max`.
 * A figure missing from some runs is summarised over the runs that have it.
 */
export function acrossRuns(runs: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  const out: Record<string, number> = {};
  for (const name of names) {
    const values = runs.flatMap((r) => (r[name] === undefined || Number.isNaN(r[name]) ? [] : [r[name]]));
    if (values.length === 0) continue;
    out[name] = percentile(values, 50);
    out[`${name}_min`] = Math.min(...values);
    out[`${name}_max`] = Math.max(...values);
  }
  return out;
}

/** The new-replica breakdown as a table: per stage, p50 / max over the new replicas, ms from first seen. */
export function renderNewReplicaTable<T extends { readonly seen: number }>(
  fresh: readonly T[],
  stages: Stages<T>,
): string {
  const rows = [...newReplicaStageMs(fresh, stages)].map(([name, v]) => [
    name.replaceAll('_', ' '),
    ms(percentile(v, 50)),
    v.length > 0 ? ms(Math.max(...v)) : '-',
    String(v.length),
  ]);
  const head = ['new replica: first seen →', 'p50', 'max', 'replicas'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function ms(v: number): string {
  return Number.isFinite(v) ? `${Math.round(v)} ms` : '-';
}

/** Per scenario, the CPU seconds each part spent during it (ScenarioResult.cpuSeconds), largest first. */
export function renderCpuLines(results: readonly ScenarioResult[]): string {
  return results
    .filter((r) => r.cpuSeconds !== undefined)
    .map((r) => {
      const parts = Object.entries(r.cpuSeconds ?? {})
        .sort(([, a], [, b]) => b - a)
        .map(([name, s]) => `${name} ${s.toFixed(2)}`);
      return `CPU s during ${r.name}: ${parts.join(', ')}`;
    })
    .join('\n');
}
