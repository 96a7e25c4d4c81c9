/**
 * Request planning for the Data Plane API backend. Pure: given what the API reports and the desired
 * peers, the list of requests to send inside one transaction (so one change of the replica set costs
 * one reload). https://www.haproxy.com/documentation/dataplaneapi/community/ (peer_entries, transactions)
 *
 * v2 and v3: v3 moved the children of many sections under their parent's path
 * (`/configuration/peers/{parent_name}/servers`, `/backends/{parent_name}/servers`, …), but the
 * endpoints this backend uses kept their v2 paths in v3 (checked against the specifications embedded in
 * dataplaneapi v2.9.27 and v3.4.2): `peer_section`, `peer_entries?peer_section=`, `configuration/version`,
 * `transactions`. What differs is the base path (`/v2`, `/v3`) and the shape of lists (v2 wraps them as
 * `{ _version, data }`, v3 returns the bare array). {@link ENDPOINTS} is the one table of paths.
 */
import { diffPeers, isEmptyDiff, sortPeers, type Peer } from './peers.ts';

/** A peer entry as the API returns it. */
export interface PeerEntry {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

export type ApiVersion = 'v2' | 'v3';

/** One request of a transaction; `path` is relative to `/<version>/services/haproxy/configuration`. */
export interface PlannedRequest {
  readonly method: 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly body?: PeerEntry | { name: string };
}

/** Every path the backend calls, relative to `/<version>` (the same in v2 and v3, see above). */
export const ENDPOINTS = {
  info: '/info',
  configurationVersion: '/services/haproxy/configuration/version',
  /** One peers section: 200, or 404 when it does not exist (the specification fixes no status for the entries of a missing section). */
  peerSection: (name: string): string => `/services/haproxy/configuration/peer_section/${encodeURIComponent(name)}`,
  peerEntries: (section: string): string =>
    `/services/haproxy/configuration/peer_entries?peer_section=${encodeURIComponent(section)}`,
  transactions: (version: number): string => `/services/haproxy/transactions?version=${version}`,
  /** Commit with `force_reload=true`: the syncer already coalesces, the API's own reload delay would only add to it. */
  commit: (id: string): string => `/services/haproxy/transactions/${encodeURIComponent(id)}?force_reload=true`,
  transaction: (id: string): string => `/services/haproxy/transactions/${encodeURIComponent(id)}`,
  /** A planned request's path (relative to the configuration) inside a transaction. */
  configuration: (plannedPath: string, transactionId: string): string =>
    `/services/haproxy/configuration${withTransaction(plannedPath, transactionId)}`,
} as const;

/** v2 wraps lists as `{ _version, data }`, v3 returns the bare array. */
export function entriesFromResponse(body: unknown): PeerEntry[] {
  const list = Array.isArray(body) ? body : (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(list)) throw new Error('peer_entries: the answer is not a list');
  return list.map((e: { name?: unknown; address?: unknown; port?: unknown }) => ({
    name: String(e.name),
    address: typeof e.address === 'string' ? e.address : '',
    port: Number(e.port ?? 0),
  }));
}

/**
 * The requests that turn `current` into `desired`: create the section when it does not exist, add new
 * peers, replace moved ones, delete gone ones (never the local peer). Empty when nothing changes.
 * Adds come before deletes so the section never passes through an empty state.
 */
export function planRequests(opts: {
  section: string;
  sectionExists: boolean;
  current: readonly PeerEntry[];
  desired: readonly Peer[];
  localPeer: string;
}): PlannedRequest[] {
  const q = `peer_section=${encodeURIComponent(opts.section)}`;
  const current: Peer[] = opts.current.map((e) => ({ name: e.name, host: e.address, port: e.port }));
  const diff = diffPeers(current, opts.desired, opts.localPeer);
  const out: PlannedRequest[] = [];
  if (!opts.sectionExists) out.push({ method: 'POST', path: '/peer_section', body: { name: opts.section } });
  if (isEmptyDiff(diff)) return out;
  const entry = (p: Peer): PeerEntry => ({ name: p.name, address: p.host, port: p.port });
  for (const p of sortPeers(diff.added)) out.push({ method: 'POST', path: `/peer_entries?${q}`, body: entry(p) });
  for (const p of sortPeers(diff.changed))
    out.push({ method: 'PUT', path: `/peer_entries/${encodeURIComponent(p.name)}?${q}`, body: entry(p) });
  for (const p of sortPeers(diff.removed))
    out.push({ method: 'DELETE', path: `/peer_entries/${encodeURIComponent(p.name)}?${q}` });
  return out;
}

/** Appends the transaction id to a planned path. */
export function withTransaction(path: string, id: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}transaction_id=${encodeURIComponent(id)}`;
}
