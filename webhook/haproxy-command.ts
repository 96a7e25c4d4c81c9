/**
 * The HAProxy container's command line, rewritten for master-worker mode with our master socket and
 * peers file. Pure.
 */
import type { V1Container } from '@kubernetes/client-node';
import { ANNOTATIONS, MASTER_SOCKET, MASTER_SOCKET_BIND, PEERS_FILE } from './annotations.ts';

/**
 * Makes the HAProxy container run in master-worker mode with our master socket and peers file:
 * `haproxy -W -db -S <runtime>/master.sock,mode,660,gid,<shared gid> -f <user cfg> -f <runtime>/peers.cfg`. An empty command gets
 * that command; a command that already runs haproxy, or only `args` starting with an option (the
 * official image's entrypoint then runs haproxy with them), gets the missing flags appended; anything else (a
 * shell wrapper, an image entrypoint we cannot see) is refused, because we could not know what runs.
 * https://docs.haproxy.org/3.0/management.html#3 (command line), #9.4 (master CLI)
 */
export function haproxyCommand(
  container: V1Container,
  configPath: string,
): { command: string[] | undefined; args: string[] | undefined; userConfigKept: boolean } | { problem: string } {
  const command = container.command ?? [];
  const args = container.args ?? [];
  if (command.length === 0 && args.length === 0) {
    return {
      command: ['haproxy', '-W', '-db', '-S', MASTER_SOCKET_BIND, '-f', configPath, '-f', PEERS_FILE],
      args: undefined,
      userConfigKept: false,
    };
  }
  // No command and arguments that start with an option: the official image's entrypoint runs
  // `haproxy -W -db <args>` then, so the arguments are haproxy's (https://hub.docker.com/_/haproxy).
  const viaEntrypoint = command.length === 0 && (args[0] ?? '').startsWith('-');
  const argv = viaEntrypoint ? ['haproxy', ...args] : [...command, ...args];
  const first = argv[0] ?? '';
  const expected = `expected no command (haproxy-peer-sync then runs haproxy itself), a command that starts with haproxy, or only args that start with an option such as -f; set annotation ${ANNOTATIONS.container} to the HAProxy container if this is not it`;
  if (first.split('/').pop() !== 'haproxy') {
    return { problem: `container "${container.name}" runs "${first}", not haproxy: ${expected}` };
  }
  if (argv.includes('--')) {
    return {
      problem: `container "${container.name}" passes "--" to haproxy; list configuration files with -f instead so haproxy-peer-sync can add its peers file (${ANNOTATIONS.container})`,
    };
  }
  const missing: string[] = [];
  if (!argv.includes('-W') && !argv.includes('-Ws')) missing.push('-W');
  if (!argv.includes('-db')) missing.push('-db');
  if (!hasOption(argv, '-S', (v) => v === MASTER_SOCKET || v.startsWith(`${MASTER_SOCKET},`)))
    missing.push('-S', MASTER_SOCKET_BIND);
  const userConfigKept = argv.includes('-f');
  if (!userConfigKept) missing.push('-f', configPath);
  if (!hasOption(argv, '-f', (v) => v === PEERS_FILE)) missing.push('-f', PEERS_FILE);
  if (missing.length === 0) return { command: undefined, args: undefined, userConfigKept };
  // Append to args when there are any, so an image's ENTRYPOINT/command split stays as the user wrote it.
  return args.length > 0
    ? { command: undefined, args: [...args, ...missing], userConfigKept }
    : { command: [...command, ...missing], args: undefined, userConfigKept };
}

function hasOption(argv: readonly string[], flag: string, matches: (value: string) => boolean): boolean {
  return argv.some((arg, i) => arg === flag && matches(argv[i + 1] ?? ''));
}
