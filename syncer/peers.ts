/**
 * The peers file: the one piece of HAProxy configuration the syncer owns. Pure: text in, text out.
 *
 * HAProxy loads it after the user's configuration (`-f user.cfg -f peers.cfg`). It holds a `global`
 * section with `localpeer` (so the local peer name is the pod name whatever the hostname, see
 * https://docs.haproxy.org/2.6/configuration.html#3.1-localpeer) and the admin socket, then the
 * `peers` section with one `peer` line per replica. `localpeer` must come before any `peers` section,
 * which is why the user's configuration must not declare the section itself.
 */
import { PEERS_FILE_HEADER } from '../common/contract.ts';

/** One replica as a peer: its pod name, its pod IP and the peer port. */
export interface Peer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** The endpoint's `ready` condition; not written to the file, used to decide readiness. */
  readonly ready?: boolean | undefined;
}

/** What the file says, read back so each pass compares with what is really on disk. */
export interface PeersFile {
  readonly localPeer: string | undefined;
  readonly adminSocket: string | undefined;
  readonly section: string | undefined;
  readonly peers: readonly Peer[];
}

/** Peer names HAProxy and the Data Plane API accept. */
export const PEER_NAME = /^[A-Za-z0-9_.:-]+$/;

/**
 * `host:port` the way HAProxy parses it: IPv6 literals in brackets (`[fd00::1]:10000`), which 2.6
 * accepts as well as `ipv6@fd00::1:10000`; the bracket form is the conventional one and cannot be
 * misread as an address ending in a port-like group.
 */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Inverse of formatAddress; also reads `show peers`' unbracketed `::1:10000` (port after the last colon). */
export function splitAddress(addr: string): { host: string; port: number } | undefined {
  const bracket = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(addr);
  const m = bracket ?? /^(?:ipv[46]@)?(.+):(\d+)$/.exec(addr);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  return { host: m[1], port: Number(m[2]) };
}

/** Peers sorted by name, so the same set always renders to the same bytes (no needless reload). */
export function sortPeers(peers: readonly Peer[]): Peer[] {
  return [...peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The whole file for a peer set. */
export function renderPeersFile(opts: {
  localPeer: string;
  adminSocket: string;
  section: string;
  peers: readonly Peer[];
}): string {
  const lines = [
    PEERS_FILE_HEADER,
    'global',
    `    localpeer ${opts.localPeer}`,
    `    stats socket ${opts.adminSocket} mode 600 level admin`,
    '',
    `peers ${opts.section}`,
    ...sortPeers(opts.peers).map((p) => `    peer ${p.name} ${formatAddress(p.host, p.port)}`),
    '',
  ];
  return lines.join('\n');
}

/** Reads a file written by renderPeersFile (or by an older version / the init container). */
export function parsePeersFile(text: string): PeersFile {
  let localPeer: string | undefined;
  let adminSocket: string | undefined;
  let section: string | undefined;
  const peers: Peer[] = [];
  let inPeers = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const words = line.split(/\s+/);
    const head = words[0] ?? '';
    if (!raw.startsWith(' ') && !raw.startsWith('\t')) {
      inPeers = head === 'peers';
      if (inPeers) section = words[1];
      continue;
    }
    if (head === 'localpeer') localPeer = words[1];
    else if (head === 'stats' && words[1] === 'socket') adminSocket = words[2];
    else if (inPeers && head === 'peer' && words[1] !== undefined && words[2] !== undefined) {
      const addr = splitAddress(words[2]);
      if (addr) peers.push({ name: words[1], host: addr.host, port: addr.port });
    }
  }
  return { localPeer, adminSocket, section, peers };
}

/** The changes between two peer sets; `changed` is a peer whose address or port moved. */
export interface PeerDiff {
  readonly added: readonly Peer[];
  readonly removed: readonly Peer[];
  readonly changed: readonly Peer[];
}

/**
 * current → desired. The local peer is never removed: a section without it is dropped by HAProxy
 * ("Removing incomplete section") and would replicate nothing.
 */
export function diffPeers(current: readonly Peer[], desired: readonly Peer[], localPeer: string): PeerDiff {
  const cur = new Map(current.map((p) => [p.name, p]));
  const want = new Map(desired.map((p) => [p.name, p]));
  const added: Peer[] = [];
  const changed: Peer[] = [];
  const removed: Peer[] = [];
  for (const p of want.values()) {
    const c = cur.get(p.name);
    if (c === undefined) added.push(p);
    else if (c.host !== p.host || c.port !== p.port) changed.push(p);
  }
  for (const c of cur.values()) if (!want.has(c.name) && c.name !== localPeer) removed.push(c);
  return { added: sortPeers(added), removed: sortPeers(removed), changed: sortPeers(changed) };
}

/** True when the diff changes nothing. */
export function isEmptyDiff(d: PeerDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0;
}
