/**
 * `npm run cluster`: a control plane and the kubelet stand-in in the foreground, for a person (or a
 * tool) to use with kubectl. Once ready it prints exactly one line on stdout, `KUBECONFIG=<path>`;
 * everything else goes to stderr. SIGINT/SIGTERM stop every process it started and exit 0; a second
 * signal exits at once (the exit hook still kills the children).
 *
 *   npm run cluster [-- --nodes=2 --keep-dir]
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createLogger } from '../../common/logger.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { startKubelet, type Kubelet } from './kubelet.ts';
import { stopAllProcesses } from './processes.ts';

const log = createLogger('cluster', 'info', pino.destination(2));
const { values } = parseArgs({
  options: { nodes: { type: 'string', default: '1' }, 'keep-dir': { type: 'boolean', default: false } },
});
const nodeCount = Number(values.nodes);
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 20) {
  log.error({ nodes: values.nodes }, '--nodes must be an integer from 1 to 20');
  process.exit(2);
}

let controlPlane: ControlPlane | undefined;
let kubelet: Kubelet | undefined;
let stopping = false;
// A signal during start-up aborts it: startControlPlane then stops what it began and removes its dir.
const starting = new AbortController();
let started: Promise<unknown> = Promise.resolve();

async function shutdown(code: number): Promise<never> {
  starting.abort(new Error('stopped by a signal during start-up'));
  await started.catch(() => {});
  await kubelet?.stop().catch((err: unknown) => log.warn({ err }, 'kubelet stand-in stop failed'));
  await controlPlane?.stop().catch((err: unknown) => log.warn({ err }, 'control plane stop failed'));
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
  const cp = startControlPlane({ keepDir: values['keep-dir'], signal: starting.signal });
  started = cp;
  controlPlane = await cp;
  const nodeNames = Array.from({ length: nodeCount }, (_, i) => `hps-node-${i + 1}`);
  kubelet = await startKubelet(controlPlane.kubeConfig, { nodeNames, logger: createLogger('kubelet-standin', 'info', pino.destination(2)) });
  log.info({ server: controlPlane.server, dir: controlPlane.dir, nodes: nodeNames, ms: Date.now() - began }, 'cluster ready; Ctrl-C stops it');
  if (process.env['HPS_LAB_NETNS'] === '1') {
    // Inside scripts/lab.sh the apiserver's 127.0.0.1 is the lab's own loopback, not the host's.
    log.info({ hint: `nsenter --net=/proc/${process.pid}/ns/net kubectl --kubeconfig ${controlPlane.kubeconfigPath} get nodes` },
      'running in the lab network namespace: reach it from outside with nsenter');
  }
  process.stdout.write(`KUBECONFIG=${controlPlane.kubeconfigPath}\n`);
} catch (err) {
  if (!stopping) {
    log.error({ err }, 'cluster failed to start');
    stopping = true;
    await shutdown(1);
  }
}
