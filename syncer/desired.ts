/**
 * The desired peer set, from the cached EndpointSlices of the headless Service. Pure.
 *
 * Follows discovery.k8s.io/v1 (https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/):
 * a nil `ready` or `serving` means true, a nil `terminating` false. A replica that is starting (not Ready
 * yet) is included on purpose, so it can learn the tables before it takes traffic. A terminating one stays
 * while it is still `serving` (its pod still Ready: HAProxy runs out its drain), so an entry it takes then
 * still reaches the others; it is dropped once `serving` turns false (its HAProxy exited, so the pod is no
 * longer Ready) or it leaves the slice. The EndpointSlice controller publishes `serving` as the pod's Ready
 * condition and `ready` as `serving && !terminating`, or always true when the Service sets
 * `publishNotReadyAddresses` (kubernetes staging/src/k8s.io/endpointslice/utils.go, `podToEndpoint`).
 */
import type { V1Endpoint, V1EndpointSlice } from '@kubernetes/client-node';
import { PEER_NAME, sortPeers, type Peer } from './peers.ts';

/** This pod, from the downward API: always a peer, whatever the slices say. */
export interface Self {
  readonly name: string;
  readonly ip: string;
}

export interface Desired {
  /** Sorted by name; includes self. */
  readonly peers: readonly Peer[];
  /** One line per skipped slice or endpoint, to log (the caller decides how often). */
  readonly warnings: readonly string[];
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * A valid IP in the form HAProxy and `show peers` print it (IPv6 lower-case and compressed, via the
 * WHATWG URL parser's canonical form), or undefined.
 */
export function normalizeIp(raw: string): string | undefined {
  if (IPV4.test(raw)) return raw;
  if (!raw.includes(':')) return undefined;
  try {
    const host = new URL(`http://[${raw}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return undefined;
  }
}

interface Candidate extends Peer {
  readonly rank: number;
}

/**
 * Whether a terminating endpoint is still serving. Without the condition (a publisher older than
 * discovery.k8s.io/v1's `serving`) the API's rule holds: nil means serving, so the replica stays declared
 * until it leaves the slice — a dead peer line for a while costs nothing, an early drop can lose entries.
 */
function stillServing(conditions: V1Endpoint['conditions']): boolean {
  return conditions?.serving !== false;
}

/**
 * Peer readiness, for the start-up gate and for this replica's own readiness: Ready and not leaving.
 * `serving` is the pod's Ready condition whatever the Service says; `ready` stands in for it only when a
 * publisher leaves `serving` out. A terminating replica never counts: a newcomer must not wait for one
 * that is about to stop, nor learn from it.
 */
function peerReady(conditions: V1Endpoint['conditions']): boolean {
  if (conditions?.terminating === true) return false;
  return (conditions?.serving ?? conditions?.ready) !== false;
}

/**
 * Every endpoint with an address that is not terminating, or terminating but still serving, ready or
 * not, plus `self`; deduplicated by pod name (a pod can sit in two slices for a moment while the
 * controller moves it: the Ready copy wins). Slices are read in name order so the outcome does not
 * depend on cache order.
 */
export function desiredPeers(slices: readonly V1EndpointSlice[], self: Self, port: number): Desired {
  const { peers: declared, warnings } = peersInSlices(slices, port);
  // Self comes from the downward API, which is authoritative for our own address.
  const selfHost = normalizeIp(self.ip) ?? self.ip;
  const ready = declared.find((p) => p.name === self.name)?.ready ?? false;
  const others = declared.filter((p) => p.name !== self.name);
  return { peers: sortPeers([...others, { name: self.name, host: selfHost, port, ready }]), warnings };
}

/** The peers the slices declare (the rule above), without self; the bench measures against the same set. */
export function peersInSlices(slices: readonly V1EndpointSlice[], port: number): Desired {
  const warnings: string[] = [];
  const best = new Map<string, Candidate>();
  const ordered = [...slices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const slice of ordered) {
    const sliceName = slice.metadata?.name ?? '<unnamed>';
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') {
      warnings.push(`slice ${sliceName}: addressType ${String(slice.addressType)} is not IPv4/IPv6, skipped`);
      continue;
    }
    if (slice.endpoints !== undefined && slice.endpoints !== null && !Array.isArray(slice.endpoints)) {
      warnings.push(`slice ${sliceName}: endpoints is not a list, skipped`);
      continue;
    }
    for (const [i, ep] of (slice.endpoints ?? []).entries()) {
      if (ep.conditions?.terminating === true && !stillServing(ep.conditions)) continue; // gone: normal, no warning
      const where = `slice ${sliceName} endpoint ${i}`;
      const name = ep.targetRef?.name;
      if (name === undefined || name === '') {
        warnings.push(`${where}: no targetRef, skipped`);
        continue;
      }
      if (!PEER_NAME.test(name)) {
        warnings.push(`${where}: pod name "${name}" is not a valid HAProxy peer name, skipped`);
        continue;
      }
      const first = ep.addresses?.[0];
      if (first === undefined) {
        warnings.push(`${where} (${name}): no address, skipped`);
        continue;
      }
      const host = normalizeIp(first);
      if (host === undefined) {
        warnings.push(`${where} (${name}): "${first}" is not an IP address, skipped`);
        continue;
      }
      const ready = peerReady(ep.conditions);
      const candidate: Candidate = { name, host, port, ready, rank: ready ? 1 : 0 };
      const seen = best.get(name);
      if (seen === undefined || candidate.rank > seen.rank) best.set(name, candidate);
    }
  }
  const peers = sortPeers([...best.values()].map(({ name, host, port: p, ready }) => ({ name, host, port: p, ready })));
  return { peers, warnings };
}
