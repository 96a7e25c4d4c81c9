/**
 * What the demo shows on each refresh, as plain text: one row per HAProxy replica with its peers and
 * the size of its shared stick-table. Pure, so the layout is unit-tested without a cluster.
 */

export interface PeerLink {
  readonly name: string;
  readonly local: boolean;
  readonly status: string; // last_status from `show peers`: ESTA, CONN, UNKN, NONE...
}

export interface ReplicaView {
  readonly pod: string;
  readonly ip: string;
  readonly ready: boolean;
  readonly peers: readonly PeerLink[] | undefined; // undefined: HAProxy not answering yet
  readonly tableEntries: number | undefined;
  readonly reloads: number | undefined;
}

export interface Screen {
  readonly title: string;
  readonly step: string;
  readonly explanation: readonly string[];
  readonly replicas: readonly ReplicaView[];
  readonly expectedEntries: number;
}

/** True when every replica lists every other replica (and only those) with an established link. */
export function converged(replicas: readonly ReplicaView[]): boolean {
  const names = new Set(replicas.map((r) => r.pod));
  return (
    replicas.length > 0 &&
    replicas.every((r) => {
      if (!r.ready || r.peers === undefined) return false;
      const remotes = r.peers.filter((p) => !p.local);
      return remotes.length === names.size - 1 && remotes.every((p) => names.has(p.name) && p.status === 'ESTA');
    })
  );
}

export function renderScreen(s: Screen): string {
  const lines = [s.title, '', `▶ ${s.step}`, ...s.explanation.map((l) => `  ${l}`), ''];
  const width = Math.max(8, ...s.replicas.map((r) => r.pod.length));
  lines.push(
    `  ${'replica'.padEnd(width)}  ${'address'.padEnd(15)} ready  table     reloads  peers (status of each link)`,
  );
  for (const r of [...s.replicas].sort((a, b) => a.pod.localeCompare(b.pod))) {
    const peers =
      r.peers === undefined
        ? '(HAProxy not answering yet)'
        : r.peers
            .filter((p) => !p.local)
            .map((p) => `${p.name}:${p.status}`)
            .join('  ') || '(no remote peers)';
    const table = r.tableEntries === undefined ? '-' : `${r.tableEntries}/${s.expectedEntries}`;
    lines.push(
      `  ${r.pod.padEnd(width)}  ${r.ip.padEnd(15)} ${(r.ready ? 'yes' : 'no').padEnd(6)} ${table.padEnd(9)} ${String(r.reloads ?? '-').padEnd(8)} ${peers}`,
    );
  }
  lines.push('', converged(s.replicas) ? '  ✔ converged: every replica peers with every other one' : '  … converging');
  return lines.join('\n');
}
