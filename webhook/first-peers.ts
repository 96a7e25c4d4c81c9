/**
 * The init container's program in direct mode: a POSIX shell script that writes the first peers file
 * (the local peer alone, as `haproxy-peer-sync init` does with syncer/peers.ts's renderPeersFile) unless
 * one is there, then exits. Why not our Node program: the kubelet sees an init container's exit only at
 * its next relist (once a second), and the next container waits for it. `true` as the init container
 * is seen done within ~80 ms of the pod's IP (`npm run bench:floor`); Node, starting and loading its
 * modules, missed that relist and cost every new replica about a second (init done 1.1 s after the IP).
 *
 * Every value comes from the container's environment (the same variables the Node program reads) and
 * is only ever expanded inside double quotes as an argument of printf: nothing in a value is run.
 */
import { ENV, PEERS_FILE_HEADER, RUNTIME_FILES } from '../common/contract.ts';

/** `sh -c` text; single-quoted pieces hold no quote, so it is one constant, whatever the pod. */
export function firstPeersScript(): string {
  const v = (name: string): string => `"$${name}"`;
  const file = `"$${ENV.runtimeDir}/${RUNTIME_FILES.peers}"`;
  return [
    'set -eu',
    `f=${file}`,
    // Left as it is when there: a restarted init container must not undo what the syncer wrote.
    '[ -e "$f" ] && exit 0',
    // As syncer/peers.ts's formatAddress: an IPv6 address in brackets.
    `case ${v(ENV.podIp)} in *:*) a="[$${ENV.podIp}]:$${ENV.peerPort}" ;; *) a="$${ENV.podIp}:$${ENV.peerPort}" ;; esac`,
    't="$f.$$.tmp"',
    [
      "printf '%s\\n'",
      `'${PEERS_FILE_HEADER}'`,
      'global',
      `"    localpeer $${ENV.podName}"`,
      `"    stats socket $${ENV.runtimeDir}/${RUNTIME_FILES.adminSocket} mode 600 level admin"`,
      "''",
      `"peers $${ENV.peersSection}"`,
      `"    peer $${ENV.podName} $a"`,
      '> "$t"',
    ].join(' '),
    'chmod 644 "$t"',
    // rename: HAProxy never reads a half-written file.
    'mv "$t" "$f"',
  ].join('\n');
}
