// `npm run demo`: the README's main job. Starts the sandbox (real control plane, one real node running
// the project's image, CoreDNS) inside the lab namespaces, installs the webhook from deploy/, applies examples/ and shows
// the peers converge while it scales and rolls the Deployment. Ctrl-C stops everything it started.
import { parseArgs } from 'node:util';
import { startHostRelay } from '../test/harness/host-relay.ts';
import { startSandbox, type Sandbox } from '../test/harness/sandbox.ts';
import { runDemo, type DemoOutput } from './run.ts';

const HELP = `usage: npm run demo [-- --wait]

  --wait   set everything up (3 replicas, entries written), then wait for you to drive it with kubectl
  --help   show this text`;

let flags: { wait?: boolean; help?: boolean };
try {
  flags = parseArgs({ options: { wait: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true }).values;
} catch (err) {
  console.error(`demo: ${(err as Error).message}\n\n${HELP}`);
  process.exit(2);
}
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}
if (process.env.HPS_LAB_NETNS !== '1') {
  console.error('demo: run it through `npm run demo` (it needs the lab network namespace of scripts/lab.sh)');
  process.exit(2);
}

const tty = process.stdout.isTTY === true;
let lastScreen = '';
const out: DemoOutput = {
  line: (text) => {
    process.stdout.write(`${text}\n`);
    lastScreen = '';
  },
  screen: (text) => {
    if (text === lastScreen) return;
    lastScreen = text;
    // On a terminal the screen is redrawn in place; in a log every distinct screen is kept.
    process.stdout.write(tty ? `\x1b[2J\x1b[H${text}\n` : `\n${text}\n`);
  },
};

const abort = new AbortController();
let sandbox: Sandbox | undefined;
let stopping = false;
const shutdown = async (code: number): Promise<never> => {
  stopping = true;
  abort.abort();
  process.stdout.write('\nstopping every process the demo started…\n');
  await sandbox?.stop().catch((err: unknown) => console.error('demo: stop failed:', err));
  process.stdout.write('stopped\n');
  process.exit(code);
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(1);
    void shutdown(0);
  });
}

try {
  process.stdout.write(
    'starting etcd, kube-apiserver, kube-controller-manager, a node (containerd, kubelet, kube-proxy, kube-scheduler) and CoreDNS…\n',
  );
  sandbox = await startSandbox();
  const relay = await startHostRelay(sandbox.controlPlane, sandbox.dir);
  await runDemo(sandbox, out, {
    waitOnly: flags.wait === true,
    signal: abort.signal,
    hostKubeconfig: relay.kubeconfigPath,
  });
  out.line('the demo is done; the sandbox keeps running for kubectl — Ctrl-C stops everything');
  await new Promise(() => undefined);
} catch (err) {
  if (!stopping) {
    console.error('demo failed:', err);
    await shutdown(1);
  }
}
