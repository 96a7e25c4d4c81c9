import dgram from 'node:dgram';
import * as k8s from '@kubernetes/client-node';
import { buildResponse, parseQuery, RCODE_FORMERR, RCODE_NXDOMAIN, TYPE_A } from './dns-message.ts';

/** Where the stand-in listens; a pod's resolv.conf names it, and resolvers always use port 53. */
export const CLUSTER_DNS_ADDRESS = '127.0.0.53';
export const CLUSTER_DOMAIN = 'cluster.local';

export interface ClusterDns {
  readonly address: string;
  /** The resolv.conf a pod of `namespace` gets, as kubelet writes it for ClusterFirst pods. */
  resolvConf(namespace: string): string;
  stop(): Promise<void>;
}

/**
 * A cluster-DNS stand-in (the part of CoreDNS's kubernetes plugin the examples use), so HAProxy's
 * `parse-resolv-conf` finds backends by their Service names exactly as in a cluster:
 * `<svc>.<ns>.svc.cluster.local` → the ready endpoints of the Service, and
 * `<hostname>.<svc>.<ns>.svc.cluster.local` → the endpoint with that hostname (StatefulSet pods).
 * There is no kube-proxy here, so a ClusterIP Service also answers with its endpoints.
 */
export async function startClusterDns(kubeConfig: k8s.KubeConfig, address = CLUSTER_DNS_ADDRESS): Promise<ClusterDns> {
  const api = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
  const informer = k8s.makeInformer(kubeConfig, '/apis/discovery.k8s.io/v1/endpointslices',
    () => api.listEndpointSliceForAllNamespaces());
  let stopped = false;
  informer.on('error', () => {
    // Restart after apiserver restarts or expired watches, as the informer does not do it by itself.
    if (!stopped) setTimeout(() => { if (!stopped) void informer.start().catch(() => undefined); }, 500);
  });
  await informer.start();

  const lookup = (name: string): string[] | undefined => {
    const suffix = `.svc.${CLUSTER_DOMAIN}`;
    if (!name.endsWith(suffix)) return undefined;
    const parts = name.slice(0, -suffix.length).split('.');
    if (parts.length !== 2 && parts.length !== 3) return undefined;
    const [hostname, service, namespace] = parts.length === 3 ? parts : [undefined, parts[0], parts[1]];
    let known = false;
    const ips: string[] = [];
    for (const slice of informer.list(namespace)) {
      if (slice.metadata?.labels?.['kubernetes.io/service-name'] !== service || slice.addressType !== 'IPv4') continue;
      known = true;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        if (hostname !== undefined && ep.hostname !== hostname) continue;
        ips.push(...ep.addresses);
      }
    }
    return known && (hostname === undefined || ips.length > 0) ? [...new Set(ips)].sort() : undefined;
  };

  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const q = parseQuery(msg);
    let reply: Buffer;
    if (!q) {
      if (msg.length < 12) return;
      reply = Buffer.from(msg.subarray(0, 12));
      reply.writeUInt16BE(0x8000 | RCODE_FORMERR, 2);
      reply.writeUInt16BE(0, 4);
    } else {
      const ips = lookup(q.name);
      reply = buildResponse(msg, q, q.type === TYPE_A ? ips ?? [] : [], ips === undefined ? RCODE_NXDOMAIN : 0);
    }
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(53, address, () => { socket.off('error', reject); resolve(); });
  });

  return {
    address,
    resolvConf: (namespace) =>
      `nameserver ${address}\nsearch ${namespace}.svc.${CLUSTER_DOMAIN} svc.${CLUSTER_DOMAIN} ${CLUSTER_DOMAIN}\noptions ndots:5\n`,
    async stop() {
      stopped = true;
      await informer.stop();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
