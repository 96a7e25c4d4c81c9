/**
 * What the init container writes, as text: pure, so the format is tested without a file system.
 * The syncer renders the same peers-file format later (syncer/peers.ts); this copy only ever holds
 * the local peer, which is all HAProxy needs to start.
 * https://docs.haproxy.org/3.0/configuration.html#3.5 (peers) · #3.1-localpeer · #3.4 (userlist)
 */
import { isIPv6 } from 'node:net';

/** `<ip>:<port>`, or `ipv6@<ip>:<port>` for an IPv6 address (HAProxy's address prefix syntax). */
export function peerAddress(ip: string, port: number): string {
  return isIPv6(ip) ? `ipv6@${ip}:${port}` : `${ip}:${port}`;
}

/**
 * The first peers file: a `global` section naming this pod as the local peer (so the peer name is the
 * pod name, whatever the hostname) with an admin socket for the syncer, and the `peers` section with
 * this pod alone.
 */
export function renderPeersFile(opts: { podName: string; podIp: string; section: string; port: number; runtimeDir: string }): string {
  return [
    'global',
    `    localpeer ${opts.podName}`,
    `    stats socket ${opts.runtimeDir}/admin.sock mode 600 level admin`,
    `peers ${opts.section}`,
    `    peer ${opts.podName} ${peerAddress(opts.podIp, opts.port)}`,
    '',
  ].join('\n');
}

/** The Data Plane API's userlist. `insecure-password` means "stored in clear", which is what the API expects for a generated secret kept in a 0600 file. */
export function renderUserlist(password: string): string {
  return `userlist haproxy-dataplaneapi\n    user admin insecure-password ${password}\n`;
}

/** A password from random bytes (the caller supplies them: at least 16, i.e. 128 bits), base64url so it needs no quoting. */
export function passwordFrom(bytes: Uint8Array): string {
  if (bytes.length < 16) throw new RangeError('a password needs at least 128 random bits');
  return Buffer.from(bytes).toString('base64url');
}
