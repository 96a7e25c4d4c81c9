/**
 * `haproxy-peer-sync cli <command>`: one command on HAProxy's master CLI, from the syncer container, for
 * a person troubleshooting a replica (`kubectl exec <pod> -c haproxy-peer-sync -- haproxy-peer-sync cli
 * "@1 show peers"`). The official HAProxy image has no socat; ours needs nothing more than itself.
 */
import { parseArgs } from 'node:util';
import { socketCommand } from '../syncer/haproxy-socket.ts';
import { ENV, RUNTIME_DIR, RUNTIME_FILES, runtimePaths } from '../common/contract.ts';

const USAGE = `usage: haproxy-peer-sync cli [--runtime-dir=DIR] <master CLI command>

  Sends one command to HAProxy's master CLI (<runtime dir>/${RUNTIME_FILES.masterSocket}) and prints the answer.
  Prefix a command with @1 for the current worker, e.g. "@1 show peers", "@1 show table <name>".

  --runtime-dir   env ${ENV.runtimeDir}, default ${RUNTIME_DIR}`;

/** Entry point of the `cli` role; exit 2 on bad usage, 1 when HAProxy does not answer. */
export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { 'runtime-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    console.error(`haproxy-peer-sync cli: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (parsed.values.help === true) {
    console.log(USAGE);
    return;
  }
  const command = parsed.positionals.join(' ').trim();
  if (command === '') {
    console.error(`haproxy-peer-sync cli: no command given\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const dir = parsed.values['runtime-dir'] ?? process.env[ENV.runtimeDir] ?? RUNTIME_DIR;
  try {
    process.stdout.write(await socketCommand(runtimePaths(dir).masterSocket, command));
  } catch (err) {
    console.error(`haproxy-peer-sync cli: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
