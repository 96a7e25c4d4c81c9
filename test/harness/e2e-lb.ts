/**
 * Real HTTP through the example's front load balancer (examples/lb.yaml), from inside the lab network.
 */
import * as k8s from '@kubernetes/client-node';
import { waitFor } from './processes.ts';
import type { Sandbox } from './sandbox.ts';
import { NS, podReady } from './e2e-example.ts';

/**
 * HTTP requests the `http` frontend of one example replica has received (req_tot of `show stat`): the
 * replica's own count, independent of what the backends report.
 */
export async function frontendRequests(s: Sandbox, pod: string): Promise<number> {
  const [header, ...rows] = (await s.masterCli(NS, pod, '@1 show stat')).split('\n');
  const column = header?.replace(/^# /, '').split(',').indexOf('req_tot') ?? -1;
  const row = rows.map((r) => r.split(',')).find((f) => f[0] === 'http' && f[1] === 'FRONTEND');
  const value = Number(row?.[column]);
  if (column < 0 || !Number.isInteger(value)) throw new Error(`${pod}: no req_tot for frontend http in show stat`);
  return value;
}

/** `ip:port` of the Ready front LB pod (it listens on its pod IP, port 8080). */
export async function lbAddress(s: Sandbox): Promise<string> {
  const core = s.controlPlane.kubeConfig.makeApiClient(k8s.CoreV1Api);
  return waitFor(
    async () => {
      const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/name=lb' })).items;
      const lb = pods.find((p) => podReady(p) && p.metadata?.deletionTimestamp === undefined);
      return lb?.status?.podIP === undefined ? false : `${lb.status.podIP}:8080`;
    },
    { what: 'the front LB to be Ready', timeoutMs: 120_000, intervalMs: 250 },
  );
}

/** Which sticky backend answered (its X-Served-By) and through which HAProxy replica (the IP it saw). */
export interface Served {
  readonly backend: string;
  readonly via: string;
}

/**
 * One GET through the LB, with the session header when `key` is given. The sticky backend (emulated
 * traefik/whoami) echoes the connection's peer as `RemoteAddr:`: the HAProxy replica that proxied it.
 */
export async function lbGet(address: string, key?: string): Promise<Served> {
  const res = await fetch(`http://${address}/`, {
    headers: key === undefined ? {} : { 'x-session-id': key },
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET via LB (${key ?? 'no key'}): ${res.status} ${body.slice(0, 200)}`);
  const via = /^RemoteAddr: (.+):\d+$/m.exec(body)?.[1];
  const backend = res.headers.get('x-served-by');
  if (via === undefined || backend === null)
    throw new Error(`unexpected answer from the backend: ${body.slice(0, 300)}`);
  return { backend, via };
}
