/**
 * What `haproxy-peer-sync status` decides and prints, pure: each replica's /status document read back
 * and checked (it comes from a pod: nothing in it is trusted, every string printed is cleaned), the
 * verdict — do the replicas of each workload agree — and the table. cli/status.ts does the I/O.
 */
import type { V1LabelSelector } from '@kubernetes/client-node';
import type { PeerRef, SyncerStatus } from '../syncer/status.ts';

/** One replica as the command saw it: its document, or why there is none. */
export interface ReplicaRow {
  readonly pod: string;
  readonly terminating: boolean;
  readonly status?: SyncerStatus;
  /** Why no document: not injected, not running yet, the proxy's or the syncer's error. */
  readonly problem?: string;
}

/** Whether the replicas agree, and if not, every reason, one line each. */
export interface Verdict {
  readonly agree: boolean;
  readonly problems: readonly string[];
}

/** Printable text from a pod or the apiserver: control characters out, at most `max` characters. */
export function printable(s: string, max = 200): string {
  const flat = s
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

function peerRefs(v: unknown): PeerRef[] | null | undefined {
  if (v === null) return null;
  if (!Array.isArray(v)) return undefined;
  const out: PeerRef[] = [];
  for (const p of v as unknown[]) {
    if (!isObject(p) || typeof p['name'] !== 'string' || typeof p['address'] !== 'string') return undefined;
    out.push({ name: printable(p['name'], 253), address: printable(p['address'], 64) });
  }
  return out;
}

/**
 * A syncer's /status answer as a SyncerStatus, or a string saying what is wrong with it (another
 * version of the syncer, or not a syncer at all).
 */
export function readStatus(doc: unknown): SyncerStatus | string {
  if (!isObject(doc)) return 'the /status answer is not a JSON object';
  if (doc['version'] !== 1)
    return `the /status answer has version ${printable(JSON.stringify(doc['version'] ?? null), 20)}, not 1 (another syncer version?)`;
  const declared = peerRefs(doc['declared']);
  const expected = peerRefs(doc['expected']);
  const links = doc['links'];
  const tables = doc['tables'];
  const lastReload = doc['lastReload'];
  const lastError = doc['lastError'];
  const ok =
    typeof doc['pod'] === 'string' &&
    typeof doc['service'] === 'string' &&
    typeof doc['section'] === 'string' &&
    typeof doc['ready'] === 'boolean' &&
    typeof doc['reason'] === 'string' &&
    typeof doc['haproxyRunning'] === 'boolean' &&
    isTime(doc['time']) &&
    declared !== undefined &&
    expected !== undefined &&
    (links === null || (isObject(links) && isCount(links['established']) && isCount(links['remote']))) &&
    (tables === null ||
      (Array.isArray(tables) &&
        (tables as unknown[]).every((t) => isObject(t) && typeof t['name'] === 'string' && isCount(t['entries'])))) &&
    (doc['tableEntries'] === null || isCount(doc['tableEntries'])) &&
    (lastReload === null ||
      (isObject(lastReload) &&
        isTime(lastReload['at']) &&
        (lastReload['result'] === 'succeeded' || lastReload['result'] === 'failed'))) &&
    (lastError === null ||
      (isObject(lastError) &&
        isTime(lastError['at']) &&
        typeof lastError['code'] === 'string' &&
        typeof lastError['message'] === 'string'));
  if (!ok) return 'the /status answer lacks fields or has them of the wrong type';
  const d = doc as unknown as SyncerStatus;
  return {
    ...d,
    pod: printable(d.pod, 253),
    service: printable(d.service, 320),
    section: printable(d.section, 64),
    reason: printable(d.reason, 500),
    declared,
    expected,
    tables: d.tables === null ? null : d.tables.map((t) => ({ name: printable(t.name, 64), entries: t.entries })),
    lastError:
      d.lastError === null
        ? null
        : { at: d.lastError.at, code: printable(d.lastError.code, 40), message: printable(d.lastError.message, 1000) },
  };
}

const peerKey = (ps: readonly PeerRef[]): string => ps.map((p) => `${p.name}@${p.address}`).join(' ');

/** The workload a row belongs to: replicas of one share the Service and the peers section. */
export function groupOf(row: ReplicaRow): string {
  return row.status === undefined ? '' : `${row.status.service} · peers ${row.status.section}`;
}

/**
 * Do the replicas agree? Every one answered, none is terminating, each is Ready, declares in HAProxy
 * the peers its EndpointSlices call for, has every link to them up; within a workload (one Service and
 * section) all declare the same peers and hold the same number of entries. A replica without a document
 * spoils its own agreement only; no replica at all is no agreement either.
 */
export function verdict(rows: readonly ReplicaRow[]): Verdict {
  const problems: string[] = [];
  if (rows.length === 0) problems.push('no pod matches');
  const groups = new Map<string, SyncerStatus[]>();
  for (const row of rows) {
    const s = row.status;
    if (s === undefined) {
      problems.push(`${row.pod}: ${row.problem ?? 'no status'}`);
      continue;
    }
    if (row.terminating) problems.push(`${row.pod}: terminating`);
    if (!s.ready) problems.push(`${row.pod}: not ready (${s.reason})`);
    if (s.declared === null)
      problems.push(`${row.pod}: HAProxy ${s.haproxyRunning ? 'has not loaded the peers section' : 'does not answer'}`);
    else if (s.expected === null) problems.push(`${row.pod}: the syncer has not listed the EndpointSlices yet`);
    else if (peerKey(s.declared) !== peerKey(s.expected))
      problems.push(
        `${row.pod}: HAProxy declares ${describePeers(s.declared)}, the EndpointSlices call for ${describePeers(s.expected)}`,
      );
    if (
      s.links !== null &&
      s.declared !== null &&
      (s.links.established !== s.links.remote || s.links.remote !== s.declared.length - 1)
    ) {
      problems.push(`${row.pod}: ${s.links.established} of ${s.declared.length - 1} links established`);
    }
    groups.set(groupOf(row), [...(groups.get(groupOf(row)) ?? []), s]);
  }
  for (const [group, members] of groups) {
    const sets = new Set(members.map((s) => peerKey(s.declared ?? [])));
    if (sets.size > 1)
      problems.push(
        `${group}: the replicas declare different peers (${members.map((s) => `${s.pod}: ${describePeers(s.declared ?? [])}`).join('; ')})`,
      );
    const counts = new Set(members.map((s) => s.tableEntries));
    if (counts.size > 1)
      problems.push(
        `${group}: the replicas hold different entry counts (${members.map((s) => `${s.pod}: ${s.tableEntries ?? '-'}`).join(', ')})`,
      );
  }
  return { agree: problems.length === 0, problems };
}

function describePeers(ps: readonly PeerRef[]): string {
  return ps.length === 0 ? 'none' : ps.map((p) => p.name).join(',');
}

/** `12s`, `3m`, `5h`, `2d` (clocks of two machines: a negative age reads as 0s). */
export function age(at: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

const HEADER = ['POD', 'READY', 'PEERS', 'LINKS', 'ENTRIES', 'LAST RELOAD', 'LAST ERROR'] as const;

/** One table per workload (its Service and peers section as the heading), then the verdict. */
export function renderStatus(rows: readonly ReplicaRow[], now: Date): string {
  const byGroup = new Map<string, ReplicaRow[]>();
  for (const row of rows) byGroup.set(groupOf(row), [...(byGroup.get(groupOf(row)) ?? []), row]);
  const out: string[] = [];
  for (const [group, members] of [...byGroup].sort(([a], [b]) => (a === '' ? 1 : b === '' ? -1 : a < b ? -1 : 1))) {
    if (out.length > 0) out.push('');
    out.push(group === '' ? 'no status' : `service ${group}`);
    out.push(...columns([[...HEADER], ...members.map((r) => cells(r, now))]));
  }
  const v = verdict(rows);
  out.push('');
  if (v.agree) out.push(`${rows.length} replica${rows.length === 1 ? '' : 's'}: ready and in agreement`);
  else out.push('not in agreement:', ...v.problems.map((p) => `  ${p}`));
  return `${out.join('\n')}\n`;
}

function cells(row: ReplicaRow, now: Date): string[] {
  const s = row.status;
  const pod = `${row.pod}${row.terminating ? ' (terminating)' : ''}`;
  if (s === undefined) return [pod, '-', '-', '-', '-', '-', printable(row.problem ?? 'no status', 80)];
  const count = (ps: readonly PeerRef[] | null): string => (ps === null ? '-' : String(ps.length));
  const lastError =
    s.lastError === null
      ? '-'
      : `${s.lastError.code} ${age(s.lastError.at, now)} ago: ${printable(s.lastError.message, 60)}`;
  return [
    pod,
    s.ready ? 'yes' : 'no',
    `${count(s.declared)}/${count(s.expected)}`,
    s.links === null ? '-' : `${s.links.established}/${s.links.remote}`,
    s.tableEntries === null ? '-' : String(s.tableEntries),
    s.lastReload === null ? '-' : `${age(s.lastReload.at, now)} ago, ${s.lastReload.result}`,
    lastError,
  ];
}

function columns(table: readonly (readonly string[])[]): string[] {
  const widths = table[0]?.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length))) ?? [];
  return table.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * A workload's `spec.selector` as a label selector string, as kubectl would take it (`a=b,c in (d,e),!f`).
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
 */
export function selectorString(selector: V1LabelSelector | undefined): string | undefined {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else return undefined;
  }
  return parts.length === 0 ? undefined : parts.join(',');
}
