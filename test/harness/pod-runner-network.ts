/**
 * A network namespace per pod, like a CNI plugin gives it: a "pause" process holds the namespace, a
 * veth pair links it to the lab's namespace, the pod IP sits on its `eth0`. Every container of the pod
 * joins it, so (as in a cluster) each pod has its own `localhost` and its own 0.0.0.0 — two replicas can
 * both listen on 0.0.0.0:8585, and a probe of one pod's IP can never be answered by another pod.
 *
 * Routing (Calico-style): the pod's default route goes via a link-local gateway 169.254.1.1 whose MAC is
 * the host end of the veth; the lab side has a /32 route per pod (in the `local` table, so it wins over
 * the lab's `local 10.244.0.0/16` route). From inside a pod, the lab's 127.0.0.1 is out of reach, so
 * the runner forwards a "service" address to the apiserver (10.0.0.1:443 — the `kubernetes` Service IP
 * that the apiserver's certificate names) and one to the cluster DNS (10.0.0.10:53).
 *
 * It changes the current network namespace (addresses, routes, ip_forward), so it only runs inside the
 * lab namespace (scripts/lab.sh sets HPS_LAB_NETNS=1), never on the host's own network.
 */
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readlink, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where pods in their own namespaces reach the lab's services. */
export interface PodNetworkSettings {
  /** Address (and the port 443) pods use for the apiserver; must be in its certificate. Default 10.0.0.1. */
  readonly apiserverHost: string;
  /** Address pods use as their nameserver (port 53, UDP). Default 10.0.0.10. */
  readonly dnsHost: string;
}

export const DEFAULT_POD_NETWORK: PodNetworkSettings = { apiserverHost: '10.0.0.1', dnsHost: '10.0.0.10' };

/** A pod's network namespace. */
export interface PodNetwork {
  /** `/proc/<pause pid>/ns/net`: what containers join (`nsenter --net=…`). */
  readonly netnsPath: string;
  /** Kills the pause process: the namespace, its veth pair and the pod route vanish with it. */
  close(): Promise<void>;
}

const GATEWAY = '169.254.1.1';

/** Fails clearly outside the lab: this module must never rewire the host's own network. */
export function assertLabNetwork(): void {
  if (process.env.HPS_LAB_NETNS !== '1') {
    throw new Error('per-pod network namespaces need the lab network namespace: run through scripts/lab.sh (HPS_LAB_NETNS=1)');
  }
}

async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args)).stdout;
}

/** The host end's name: at most 15 characters, derived from the pod IP so a leftover is found again. */
function vethName(podIP: string): string {
  return `hps${podIP.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')}`;
}

/** Creates the pod's namespace and wires `podIP` into it. */
export async function createPodNetwork(podIP: string): Promise<PodNetwork> {
  assertLabNetwork();
  // The pause process: it only holds the namespace, and dies with us (pdeathsig).
  const pause = spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--net', '--', 'sleep', 'infinity'],
    { stdio: 'ignore', detached: true });
  const pid = pause.pid;
  if (pid === undefined) throw new Error('could not start the pod network pause process');
  const exited = new Promise<void>((resolve) => pause.once('exit', () => resolve()));
  const host = vethName(podIP);
  const close = async (): Promise<void> => {
    // Deleting the veth now (rather than leaving it to the kernel's deferred namespace cleanup) frees
    // the pod IP's route at once, for the next pod that gets this address.
    await ip('link', 'del', host).catch(() => undefined);
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    await exited;
  };
  try {
    await waitForOwnNetns(pid);
    await ip('link', 'del', host).catch(() => undefined); // a leftover of a pod that had this IP
    await ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pid));
    await ip('link', 'set', host, 'up');
    await ip('route', 'replace', `${podIP}/32`, 'dev', host, 'table', 'local');
    const mac = /link\/ether ([0-9a-f:]+)/.exec(await ip('link', 'show', 'dev', host))?.[1];
    if (mac === undefined) throw new Error(`no MAC address on ${host}`);
    const inPod = async (...args: string[]): Promise<void> => { await run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'ip', ...args]); };
    await inPod('link', 'set', 'lo', 'up');
    await inPod('addr', 'add', `${podIP}/32`, 'dev', 'eth0');
    await inPod('link', 'set', 'eth0', 'up');
    await inPod('route', 'add', GATEWAY, 'dev', 'eth0', 'scope', 'link');
    // A permanent neighbour entry instead of proxy ARP: the lab namespace has no route to the gateway.
    await inPod('neigh', 'add', GATEWAY, 'lladdr', mac, 'dev', 'eth0', 'nud', 'permanent');
    await inPod('route', 'add', 'default', 'via', GATEWAY, 'dev', 'eth0');
    return { netnsPath: `/proc/${pid}/ns/net`, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** `unshare` has exec'd `sleep` once the process's netns differs from ours. */
async function waitForOwnNetns(pid: number): Promise<void> {
  const ours = await readlink('/proc/self/ns/net');
  for (let i = 0; i < 200; i++) {
    const theirs = await readlink(`/proc/${pid}/ns/net`).catch(() => ours);
    if (theirs !== ours) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the pod network pause process did not enter its namespace');
}

let gateway: Promise<void> | undefined;
const forwards = new Map<string, Promise<void>>();
// Where the forwarders send to: the latest caller's apiserver / nameserver. One lab process talks to
// one control plane at a time (a test file may start a second one after stopping the first).
let apiserverTarget = { host: '127.0.0.1', port: 443 };
let dnsTarget = '127.0.0.53';

/** Once per lab: IP forwarding on, the service addresses on the lab's loopback. */
function ensureGateway(settings: PodNetworkSettings): Promise<void> {
  gateway ??= (async () => {
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    for (const address of [settings.apiserverHost, settings.dnsHost]) {
      await ip('addr', 'replace', `${address}/32`, 'dev', 'lo');
    }
  })();
  return gateway;
}

/**
 * A TCP forwarder `<apiserverHost>:443 → server` (the apiserver on the lab's 127.0.0.1), started once;
 * returns the host and port pods use. Unref'd: it never keeps the process alive.
 */
export async function apiserverForPods(server: string, settings: PodNetworkSettings): Promise<{ host: string; port: string }> {
  assertLabNetwork();
  await ensureGateway(settings);
  const url = new URL(server);
  apiserverTarget = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port !== '' ? url.port : '443') };
  const key = `tcp ${settings.apiserverHost}:443`;
  let started = forwards.get(key);
  if (started === undefined) {
    started = new Promise<void>((resolve, reject) => {
      const srv: Server = createServer((client) => {
        const upstream = connect(apiserverTarget.port, apiserverTarget.host);
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
      });
      srv.once('error', reject);
      srv.listen(443, settings.apiserverHost, () => { srv.unref(); resolve(); });
    });
    forwards.set(key, started);
  }
  await started;
  return { host: settings.apiserverHost, port: '443' };
}

/**
 * A UDP forwarder `<dnsHost>:53 → nameserver:53`, started once; returns `resolvConf` with its
 * nameserver lines pointing at `dnsHost`.
 */
export async function resolvConfForPods(resolvConf: string, settings: PodNetworkSettings): Promise<string> {
  assertLabNetwork();
  const upstream = /^nameserver\s+(\S+)/m.exec(resolvConf)?.[1];
  if (upstream === undefined) return resolvConf;
  dnsTarget = upstream;
  await ensureGateway(settings);
  const key = `udp ${settings.dnsHost}:53`;
  let started = forwards.get(key);
  if (started === undefined) {
    started = new Promise<void>((resolve, reject) => {
      const front = createSocket('udp4');
      front.on('message', (query, client) => {
        // One socket per query: the answer goes back to whoever asked, and the socket closes.
        const back = createSocket('udp4');
        const done = setTimeout(() => back.close(), 5000);
        done.unref();
        back.on('message', (answer) => { front.send(answer, client.port, client.address); clearTimeout(done); back.close(); });
        back.on('error', () => { clearTimeout(done); back.close(); });
        back.send(query, 53, dnsTarget);
      });
      front.once('error', reject);
      front.bind(53, settings.dnsHost, () => { front.unref(); resolve(); });
    });
    forwards.set(key, started);
  }
  await started;
  return resolvConf.replace(/^nameserver\s+\S+/gm, `nameserver ${settings.dnsHost}`);
}
