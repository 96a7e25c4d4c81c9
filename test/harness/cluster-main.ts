/**
 * `npm run cluster`: the sandbox (control plane, one real node, CoreDNS) in the foreground, for a person
 * (or a tool) to use with kubectl. Once ready it prints exactly one line on stdout, `KUBECONFIG=<path>`:
 * a kubeconfig that plain `kubectl` on the host can use (through the relay of host-relay.ts); everything
 * else goes to stderr. SIGINT/SIGTERM stop every process it started and exit 0; a second signal exits at
 * once (the exit hook still kills the children).
 *
 *   npm run cluster
 */
import { pino } from 'pino';
import { createLogger } from '../../common/logger.ts';
import { startHostRelay } from './host-relay.ts';
import { stopAllProcesses } from './processes.ts';
import { startSandbox, type Sandbox } from './sandbox.ts';

const log = createLogger('cluster', 'info', pino.destination(2));
let sandbox: Sandbox | undefined;
let stopping = false;

async function shutdown(code: number): Promise<never> {
  await sandbox?.stop().catch((err: unknown) => log.warn({ err }, 'sandbox stop failed'));
  await stopAllProcesses(); // belt and braces: nothing of ours may outlive this process
  process.exit(code);
}

// Registered before anything starts, so the harness's own signal hook leaves the exit to us.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal: sig }, 'stopping the cluster');
    void shutdown(0);
  });
}

try {
  const began = Date.now();
  sandbox = await startSandbox();
  const relay = await startHostRelay(sandbox.controlPlane, sandbox.dir);
  log.info(
    { server: sandbox.controlPlane.server, node: sandbox.node.name, ms: Date.now() - began },
    'cluster ready; Ctrl-C stops it',
  );
  process.stdout.write(`KUBECONFIG=${relay.kubeconfigPath}\n`);
} catch (err) {
  if (!stopping) {
    log.error({ err }, 'cluster failed to start');
    stopping = true;
    await shutdown(1);
  }
}
