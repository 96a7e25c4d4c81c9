/**
 * The syncer's `/status` document: what one replica holds and knows, for `haproxy-peer-sync status`
 * (cli/status.ts), which reads every replica's through the apiserver and tells whether they agree. Pure:
 * built from what HAProxy answered (`@1 show peers`, `@1 show table`), the reconciler's desired peers and
 * readiness, and the outcomes it reported (reloads, errors), with the clock passed in.
 */
import { ERRORS, RELOAD_FAILURE_CODES } from '../common/errors.ts';
import type { ReconcileOutcome } from './reconciler.ts';
import { formatAddress, type Peer } from './peers.ts';
import { isEstablished, parseShowPeers } from './show-peers.ts';

/** A peer as `show peers` or the desired set names it: `address` is `ip:port` (`[ip]:port` for IPv6). */
export interface PeerRef {
  readonly name: string;
  readonly address: string;
}

/** The document (`version` changes only if a field changes meaning). */
export interface SyncerStatus {
  readonly version: 1;
  readonly pod: string;
  /** The Service whose EndpointSlices list the replicas (`namespace/name`) and the peers section: replicas of one workload share both. */
  readonly service: string;
  readonly section: string;
  readonly time: string;
  readonly ready: boolean;
  /** The /readyz reason. */
  readonly reason: string;
  /** HAProxy's master CLI answered. */
  readonly haproxyRunning: boolean;
  /** The section's peers (this pod included), sorted by name; null when HAProxy does not answer or has not loaded the section. */
  readonly declared: readonly PeerRef[] | null;
  /** The peers the EndpointSlices call for (this pod included), sorted; null before the first list. */
  readonly expected: readonly PeerRef[] | null;
  /** Remote peers of the live section with a session up now (isEstablished), and how many remote peers it declares. */
  readonly links: { readonly established: number; readonly remote: number } | null;
  /** The tables the section replicates, with their entry counts (`show table`'s `used`). */
  readonly tables: readonly { readonly name: string; readonly entries: number }[] | null;
  /** Sum of `tables`' entries. */
  readonly tableEntries: number | null;
  readonly lastReload: { readonly at: string; readonly result: 'succeeded' | 'failed' } | null;
  readonly lastError: { readonly at: string; readonly code: string; readonly message: string } | null;
}

/** Longest error message kept (the reconciler's own messages; HAProxy's error lines may be many). */
const MESSAGE_MAX = 1000;

/** The last reload and the last error the reconciler reported. */
export class OutcomeLog {
  #lastReload: SyncerStatus['lastReload'] = null;
  #lastError: SyncerStatus['lastError'] = null;
  readonly #now: () => Date;

  constructor(now: () => Date) {
    this.#now = now;
  }

  record(outcome: ReconcileOutcome): void {
    const at = this.#now().toISOString();
    if (outcome.kind === 'reloaded') this.#lastReload = { at, result: 'succeeded' };
    else if (outcome.kind === 'error') {
      if (RELOAD_FAILURE_CODES.has(outcome.code)) this.#lastReload = { at, result: 'failed' };
      this.#lastError = { at, code: outcome.code, message: outcome.message.slice(0, MESSAGE_MAX) };
    } else {
      this.#lastError = { at, code: ERRORS.HPS_UNTAUGHT.code, message: outcome.reason.slice(0, MESSAGE_MAX) };
    }
  }

  get lastReload(): SyncerStatus['lastReload'] {
    return this.#lastReload;
  }
  get lastError(): SyncerStatus['lastError'] {
    return this.#lastError;
  }
}

/**
 * The names of the tables `section` replicates, from `show peers` (the `table:0x… id=<name>` lines of
 * its peers' shared tables).
 */
export function sectionTables(showPeers: string, section: string): string[] {
  const names = new Set<string>();
  let inSection = false;
  for (const line of showPeers.split('\n')) {
    const header = /^0x[0-9a-f]+: \[[^\]]*\] id=(\S+) /.exec(line);
    if (header) {
      inSection = header[1] === section;
      continue;
    }
    const table = /^\s+table:0x[0-9a-f]+ id=(\S+)/.exec(line);
    if (inSection && table?.[1] !== undefined) names.add(table[1]);
  }
  return [...names].sort();
}

/** `show table` without a name: `# table: <name>, type: <type>, size:<n>, used:<n>` per table → name → used. */
export function parseTableList(showTable: string): Map<string, number> {
  const used = new Map<string, number>();
  for (const m of showTable.matchAll(/^# table: ([^,\s]+), .*?\bused:(\d+)/gm)) {
    if (m[1] !== undefined && m[2] !== undefined) used.set(m[1], Number(m[2]));
  }
  return used;
}

export interface StatusInput {
  readonly pod: string;
  /** `namespace/name` of the Service. */
  readonly service: string;
  readonly section: string;
  readonly readiness: { readonly ready: boolean; readonly reason: string };
  /** The reconciler's desired peers; undefined before the first list. */
  readonly expected: readonly Peer[] | undefined;
  /** `@1 show peers` as HAProxy answered it; undefined when the master CLI does not answer. */
  readonly showPeers: string | undefined;
  /** `@1 show table`; undefined when it could not be read. */
  readonly showTable: string | undefined;
  readonly outcomes: Pick<OutcomeLog, 'lastReload' | 'lastError'>;
  readonly now: Date;
}

const byName = (a: PeerRef, b: PeerRef): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The /status document for one moment. */
export function buildStatus(input: StatusInput): SyncerStatus {
  const live =
    input.showPeers === undefined ? undefined : parseShowPeers(input.showPeers).find((s) => s.name === input.section);
  const tableNames =
    input.showPeers === undefined || live === undefined ? undefined : sectionTables(input.showPeers, input.section);
  const used = input.showTable === undefined ? undefined : parseTableList(input.showTable);
  const tables =
    tableNames === undefined || used === undefined
      ? null
      : tableNames.map((name) => ({ name, entries: used.get(name) ?? 0 }));
  const remotes = live?.peers.filter((p) => !p.local);
  return {
    version: 1,
    pod: input.pod,
    service: input.service,
    section: input.section,
    time: input.now.toISOString(),
    ready: input.readiness.ready,
    reason: input.readiness.reason,
    haproxyRunning: input.showPeers !== undefined,
    declared:
      live === undefined
        ? null
        : live.peers
            .map((p) => ({
              name: p.name,
              address: p.host === undefined || p.port === undefined ? '' : formatAddress(p.host, p.port),
            }))
            .sort(byName),
    expected:
      input.expected === undefined
        ? null
        : input.expected.map((p) => ({ name: p.name, address: formatAddress(p.host, p.port) })).sort(byName),
    links: remotes === undefined ? null : { established: remotes.filter(isEstablished).length, remote: remotes.length },
    tables,
    tableEntries: tables === null ? null : tables.reduce((sum, t) => sum + t.entries, 0),
    lastReload: input.outcomes.lastReload,
    lastError: input.outcomes.lastError,
  };
}
