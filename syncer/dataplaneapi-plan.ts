/**
 * Request planning for the Data Plane API backend. Pure: given what the API reports and the desired
 * peers, the list of requests to send inside one transaction (so one change of the replica set costs
 * one reload). https://www.haproxy.com/documentation/dataplaneapi/community/ (peer_entries, transactions)
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

/** v2 wraps lists as `{ _version, data }`, v3 returns the bare array. */
export function entriesFromResponse(body: unknown): PeerEntry[] {
  const list = Array.isArray(body) ? body : (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(list)) throw new Error('peer_entries: the answer is not a list');
  return list.map((e: { name?: unknown; address?: unknown; port?: unknown }) => ({
    name: String(e.name), address: typeof e.address === 'string' ? e.address : '', port: Number(e.port ?? 0),
  }));
}

/**
 * The requests that turn `current` into `desired`: create the section when it does not exist, add new
 * peers, replace moved ones, delete gone ones (never the local peer). Empty when nothing changes.
 * Adds come before deletes so the section never passes through an empty state.
 */
export function planRequests(opts: {
  section: string; sectionExists: boolean; current: readonly PeerEntry[]; desired: readonly Peer[]; localPeer: string;
}): PlannedRequest[] {
  const q = `peer_section=${encodeURIComponent(opts.section)}`;
  const current: Peer[] = opts.current.map((e) => ({ name: e.name, host: e.address, port: e.port }));
  const diff = diffPeers(current, opts.desired, opts.localPeer);
  const out: PlannedRequest[] = [];
  if (!opts.sectionExists) out.push({ method: 'POST', path: '/peer_section', body: { name: opts.section } });
  if (isEmptyDiff(diff)) return out;
  const entry = (p: Peer): PeerEntry => ({ name: p.name, address: p.host, port: p.port });
  for (const p of sortPeers(diff.added)) out.push({ method: 'POST', path: `/peer_entries?${q}`, body: entry(p) });
  for (const p of sortPeers(diff.changed)) out.push({ method: 'PUT', path: `/peer_entries/${encodeURIComponent(p.name)}?${q}`, body: entry(p) });
  for (const p of sortPeers(diff.removed)) out.push({ method: 'DELETE', path: `/peer_entries/${encodeURIComponent(p.name)}?${q}` });
  return out;
}

/** Appends the transaction id to a planned path. */
export function withTransaction(path: string, id: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}transaction_id=${encodeURIComponent(id)}`;
}
