/**
 * Parses the master CLI's `show proc` and the answer to `reload`, and judges a reload. Pure.
 *
 * `show proc` has the same format in 2.6 and 3.0: the master line
 * `<pid> master <reloads> [failed: N] <uptime> <version>`, then `# workers` (the current one) and
 * `# old workers` (still draining). `reloads` counts every reload attempt, failed ones included; `failed`
 * counts the failures since the last successful load. The `<version>` column is how the syncer learns
 * which HAProxy it drives (haproxy-version.ts).
 *
 * `reload` answers nothing on 2.6 (the result is read from two `show proc`), and on 3.0 answers once the
 * new worker has loaded: `Success=1` or `Success=0`, a `--` line, then the master's log of that load —
 * with HAProxy's own `[ALERT]` lines when the configuration was rejected.
 */

export interface ProcInfo {
  readonly masterPid: number;
  readonly reloads: number;
  readonly failed: number;
  /** Current workers (the `# workers` block). */
  readonly workers: readonly number[];
  /** Workers of earlier generations still finishing their connections. */
  readonly oldWorkers: readonly number[];
  /** The master's `<version>` column, e.g. `3.0.11-1+deb13u5`; undefined when the line has none. */
  readonly version: string | undefined;
  /** The master's `<uptime>` column (`0d00h00m13s`) in seconds: since HAProxy started, reloads included. */
  readonly uptimeSeconds: number | undefined;
}

/** Undefined when the text has no master line (not a master CLI, or a truncated answer). */
export function parseShowProc(text: string): ProcInfo | undefined {
  let master:
    | { pid: number; reloads: number; failed: number; version: string | undefined; uptime: string | undefined }
    | undefined;
  const workers: number[] = [];
  const oldWorkers: number[] = [];
  let block: 'workers' | 'old' | 'other' = 'other';
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('#')) {
      block = /^#\s*workers/.test(t) ? 'workers' : /^#\s*old workers/.test(t) ? 'old' : 'other';
      continue;
    }
    const m = /^(\d+)\s+master\s+(\d+)(?:\s*\[failed:\s*(\d+)\])?(?:\s+(\S+)\s+(\S+))?/.exec(t);
    if (m) {
      master = { pid: Number(m[1]), reloads: Number(m[2]), failed: Number(m[3] ?? 0), uptime: m[4], version: m[5] };
      continue;
    }
    const w = /^(\d+)\s+worker\b/.exec(t);
    if (w) (block === 'old' ? oldWorkers : workers).push(Number(w[1]));
  }
  if (master === undefined) return undefined;
  return {
    masterPid: master.pid,
    reloads: master.reloads,
    failed: master.failed,
    workers,
    oldWorkers,
    version: master.version,
    uptimeSeconds: parseUptime(master.uptime),
  };
}

/** `0d00h00m13s` → 13; undefined when not in that form. */
function parseUptime(text: string | undefined): number | undefined {
  const m = /^(\d+)d(\d+)h(\d+)m(\d+)s$/.exec(text ?? '');
  return m === null ? undefined : ((Number(m[1]) * 24 + Number(m[2])) * 60 + Number(m[3])) * 60 + Number(m[4]);
}

/**
 * Which HAProxy runs. A reload keeps the master (its pid and its uptime); a restart of the container
 * starts a new one — in a container usually under the same pid (the image's entrypoint `exec`s HAProxy:
 * PID 1 every time), so only its start time tells the two apart.
 */
export interface MasterInstance {
  readonly pid: number;
  /** When the master started (the reader's clock minus `<uptime>`, which is rounded down to the second). */
  readonly startedAtMs: number | undefined;
  /** Reload attempts so far (the `<reloads>` column). */
  readonly reloads: number;
}

export function masterInstance(proc: ProcInfo, nowMs: number): MasterInstance {
  return {
    pid: proc.masterPid,
    startedAtMs: proc.uptimeSeconds === undefined ? undefined : nowMs - proc.uptimeSeconds * 1000,
    reloads: proc.reloads,
  };
}

/**
 * `now` is the master seen `before`: the same pid, no fewer reloads (the counter only grows), and, when
 * both are known, start times within the `<uptime>` column's rounding (1 s) and the time its answer took
 * (`slackMs`, 2 s in all). Not told apart: a restart less than `slackMs` after the previous start of a
 * master that had not been reloaded.
 */
export function sameMaster(before: MasterInstance, now: MasterInstance, slackMs = 2000): boolean {
  if (before.pid !== now.pid || now.reloads < before.reloads) return false;
  if (before.startedAtMs === undefined || now.startedAtMs === undefined) return true;
  return Math.abs(before.startedAtMs - now.startedAtMs) <= slackMs;
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

/** 3.0's answer to `reload`. */
export interface ReloadAnswer {
  readonly success: boolean;
  /** The master's log lines of that load, as HAProxy wrote them (`[ALERT]    (pid) : config : …`). */
  readonly log: readonly string[];
}

/** Undefined when the text is not a `Success=` answer (2.6 says nothing; a dropped connection says nothing). */
export function parseReloadAnswer(text: string): ReloadAnswer | undefined {
  const lines = text.split('\n').map((l) => l.trimEnd());
  const first = lines.findIndex((l) => l !== '');
  const m = first === -1 ? null : /^Success=([01])$/.exec(lines[first] ?? '');
  if (m === null) return undefined;
  const rest = lines.slice(first + 1);
  const log = (rest[0] === '--' ? rest.slice(1) : rest).filter((l) => l !== '');
  return { success: m[1] === '1', log };
}

/** The lines that say why a load failed: HAProxy's `[ALERT]` lines, else its warnings, else the whole log. */
export function failureLines(log: readonly string[]): readonly string[] {
  const alerts = log.filter((l) => l.startsWith('[ALERT]'));
  if (alerts.length > 0) return alerts;
  const warnings = log.filter((l) => l.startsWith('[WARNING]'));
  return warnings.length > 0 ? warnings : log;
}
