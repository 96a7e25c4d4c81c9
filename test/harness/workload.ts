/**
 * A labelled HAProxy workload on the sandbox's real node, as a user would deploy it: a namespace, a
 * ServiceAccount with the syncer's RoleBinding, a headless Service, the user's configuration (a
 * stick-table naming our peers section) and a Deployment of an HAProxy image labelled for injection.
 * The webhook (installed from deploy/) injects the syncer; the kubelet runs what was admitted.
 *
 * Each replica is read the way a user would check it: HAProxy's master CLI on the pod's shared volume,
 * the syncer's health port on the pod IP, `kubectl logs`, and the container's cgroup for memory.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { isEstablished, parseShowPeers, type SectionStatus } from '../../syncer/show-peers.ts';
import { parseShowProc } from '../../syncer/show-proc.ts';
import { DEFAULT_TABLE as TABLE, userConfig } from './haproxy.ts';
import { waitFor } from './processes.ts';
import { RUNTIME_VOLUME, type Sandbox } from './sandbox.ts';

export const HEALTH_PORT = 8585;
export const SYNCER = 'haproxy-peer-sync';
/** The HAProxy images the lab builds (scripts/build-images.sh), as pods name them. */
export const HAPROXY_IMAGES = { '2.6': 'haproxy:2.6', '3.0': 'haproxy:3.0' } as const;
export type HaproxyBranch = keyof typeof HAPROXY_IMAGES;

export interface WorkloadOptions {
  readonly replicas: number;
  /** Default `web`; also the namespace's prefix. */
  readonly name?: string;
  /** Default 2.6. */
  readonly haproxy?: HaproxyBranch;
  /**
   * Default true: the HAProxy container sets a hardened securityContext (uid 99, read-only root, no
   * capabilities). False: no securityContext at all, HAProxy runs as its image's USER.
   */
  readonly securityContext?: boolean;
  /**
   * The HAProxy container's `args`, with no `command` (the image's entrypoint runs haproxy with them when
   * the first starts with "-"). Default: neither, so the webhook writes the whole command.
   */
  readonly args?: readonly string[];
}

/** One replica of the workload, read from the node. */
export interface WorkloadPod {
  readonly name: string;
  readonly ip: string;
  readonly uid: string;
  readonly createdAt: number;
  masterCli(command: string): Promise<string>;
  showPeers(): Promise<SectionStatus | undefined>;
  showTable(): Promise<Map<string, string>>;
  setTable(key: string, value: number): Promise<void>;
  reloadCount(): Promise<number>;
  peersFile(): Promise<string>;
  /** Status code of the syncer's health endpoints (0 when nothing answers). */
  readyz(): Promise<number>;
  /** The status and the reason /readyz gives (status 0 and 'no answer' when nothing answers). */
  readyzBody(): Promise<{ status: number; text: string }>;
  startupz(): Promise<number>;
  metrics(): Promise<string>;
  log(): Promise<string>;
  /** The syncer container's main process (host pid), undefined when it does not run. */
  syncerPid(): Promise<number | undefined>;
  /** The syncer container's working set (cgroup memory usage − inactive file), in MB. */
  syncerWorkingSetMb(): Promise<number>;
}

export interface Workload {
  readonly namespace: string;
  readonly name: string;
  /** The live (not terminating) pods that have an IP, by name, as of the last call. */
  pods(): Promise<WorkloadPod[]>;
  /** The same from pods listed elsewhere (a watch's cache), without a call to the apiserver. */
  podsOf(items: readonly V1Pod[]): WorkloadPod[];
  scale(replicas: number): Promise<void>;
  /** Waits until exactly `n` live pods each list exactly the others, all links established. */
  waitConverged(n: number, timeoutMs?: number): Promise<WorkloadPod[]>;
  /** Waits until the pods are Ready in the API (their readiness probes passed). */
  waitReady(names: readonly string[], timeoutMs?: number): Promise<void>;
  delete(): Promise<void>;
}

export function workloadManifests(ns: string, name: string, o: WorkloadOptions): string {
  const hardened = o.securityContext ?? true;
  const security = hardened
    ? `
          securityContext:
            runAsNonRoot: true
            runAsUser: 99
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: [ALL] }`
    : '';
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${ns} }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: ${name}, namespace: ${ns} }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: haproxy-peer-sync-syncer, namespace: ${ns} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: haproxy-peer-sync-syncer }
subjects: [{ kind: ServiceAccount, name: ${name}, namespace: ${ns} }]
---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec:
  clusterIP: None
  selector: { app: ${name} }
  ports: [{ name: peers, port: 10000 }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: ${name}-config, namespace: ${ns} }
data:
  haproxy.cfg: |
${userConfig()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns} }
spec:
  replicas: ${o.replicas}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata:
      labels: { app: ${name}, haproxy-peer-sync.io/inject: "true" }
      annotations:
        haproxy-peer-sync.io/service: ${name}
        haproxy-peer-sync.io/sidecar-mode: native
    spec:
      serviceAccountName: ${name}
      terminationGracePeriodSeconds: 10
      containers:
        - name: haproxy
          image: ${HAPROXY_IMAGES[o.haproxy ?? '2.6']}${
            o.args === undefined
              ? ''
              : `
          args: ${JSON.stringify(o.args)}`
          }
          env:
            - name: POD_IP
              valueFrom: { fieldRef: { fieldPath: status.podIP } }
          ports: [{ name: peers, containerPort: 10000 }]
          volumeMounts: [{ name: config, mountPath: /usr/local/etc/haproxy, readOnly: true }]
          # Small requests: the lab node has 2 CPUs and the bench runs 20 replicas on it.
          resources:
            requests: { cpu: 10m, memory: 32Mi }
            limits: { cpu: "1", memory: 256Mi }${security}
      volumes:
        - name: config
          configMap: { name: ${name}-config }
`;
}

/** Creates the workload on a sandbox whose webhook is installed; resolves once `replicas` converged. */
export async function startWorkload(s: Sandbox, o: WorkloadOptions): Promise<Workload> {
  const name = o.name ?? 'web';
  const namespace = `${name}-${Math.random().toString(36).slice(2, 7)}`;
  const core = s.controlPlane.kubeConfig.makeApiClient(CoreV1Api);
  const apps = s.controlPlane.kubeConfig.makeApiClient(AppsV1Api);
  const file = `${s.dir}/${namespace}.yaml`;
  await writeFile(file, workloadManifests(namespace, name, o));
  await s.kubectl('apply', '-f', file);
  await waitFor(
    async () => {
      await core.readNamespacedServiceAccount({ namespace, name: 'default' });
      return true;
    },
    { what: `the default ServiceAccount of ${namespace}`, timeoutMs: 30_000 },
  );

  const podOf = (p: V1Pod): WorkloadPod => {
    const podName = p.metadata?.name ?? '';
    const ip = p.status?.podIP ?? '';
    const volume = s.node.emptyDirPath(p.metadata?.uid ?? '', RUNTIME_VOLUME);
    // By the volume of this pod (its uid), not its name: no read of the pod per command.
    const cli = (c: string): Promise<string> => s.masterCliAt(volume, c);
    const health = (path: string): Promise<Response | undefined> =>
      fetch(`http://${ip}:${HEALTH_PORT}${path}`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    const syncerPid = (): Promise<number | undefined> => s.containerPid(namespace, podName, SYNCER);
    return {
      name: podName,
      ip,
      uid: p.metadata?.uid ?? '',
      createdAt: new Date(p.metadata?.creationTimestamp ?? 0).getTime(),
      masterCli: cli,
      showPeers: async () => parseShowPeers(await cli('@1 show peers'))[0],
      showTable: async () => {
        const rows = new Map<string, string>();
        for (const line of (await cli(`@1 show table ${TABLE}`)).split('\n')) {
          const m = /\bkey=(\S+) (.*)$/.exec(line);
          if (m?.[1] !== undefined) rows.set(m[1], m[2] ?? '');
        }
        return rows;
      },
      setTable: async (key, value) => {
        const answer = await cli(`@1 set table ${TABLE} key ${key} data.gpc0 ${value}`);
        if (answer.trim() !== '') throw new Error(`set table on ${podName}: ${answer.trim()}`);
      },
      reloadCount: async () => {
        const info = parseShowProc(await cli('show proc'));
        if (info === undefined) throw new Error(`${podName}: show proc has no master line`);
        return info.reloads;
      },
      peersFile: () => readFile(`${volume}/peers.cfg`, 'utf8'),
      readyz: async () => (await health('/readyz'))?.status ?? 0,
      readyzBody: async () => {
        const r = await health('/readyz');
        return r === undefined ? { status: 0, text: 'no answer' } : { status: r.status, text: (await r.text()).trim() };
      },
      startupz: async () => (await health('/startupz'))?.status ?? 0,
      metrics: async () => (await (await health('/metrics'))?.text()) ?? '',
      log: () => s.kubectl('logs', '-n', namespace, podName, '-c', SYNCER),
      syncerPid,
      syncerWorkingSetMb: async () => {
        const pid = await syncerPid();
        if (pid === undefined) return 0;
        return containerWorkingSetMb(pid);
      },
    };
  };

  const podsOf = (items: readonly V1Pod[]): WorkloadPod[] =>
    items
      .filter((p) => p.metadata?.deletionTimestamp == null && p.status?.podIP != null)
      .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
      .map(podOf);
  const pods = async (): Promise<WorkloadPod[]> =>
    podsOf((await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items);

  const workload: Workload = {
    namespace,
    name,
    pods,
    podsOf,
    scale: async (replicas) => {
      await s.kubectl('-n', namespace, 'scale', `deployment/${name}`, `--replicas=${replicas}`);
    },
    waitConverged: (n, timeoutMs = 180_000) =>
      waitFor(
        async () => {
          const live = await pods();
          return live.length === n && (await meshed(live)) ? live : undefined;
        },
        { what: `${n} meshed replicas of ${namespace}/${name}`, timeoutMs, intervalMs: 100 },
      ),
    waitReady: async (names, timeoutMs = 60_000) => {
      await waitFor(
        async () => {
          const list = (await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items;
          return names.every((n) =>
            list
              .find((p) => p.metadata?.name === n)
              ?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          );
        },
        { what: `${names.join(', ')} Ready`, timeoutMs, intervalMs: 100 },
      ).catch(async (err: unknown) => {
        // What each syncer said about itself: the reason a replica stays un-Ready is in its /readyz body.
        const said = await Promise.all(
          (await pods().catch(() => []))
            .filter((p) => names.includes(p.name))
            .map(async (p) => {
              const r = await p.readyzBody();
              return `${p.name}: /readyz ${r.status} ${r.text}`;
            }),
        );
        throw new Error(`${(err as Error).message}\n${said.join('\n')}`, { cause: err });
      });
    },
    delete: async () => {
      await apps.deleteNamespacedDeployment({ namespace, name }).catch(() => {});
      await core.deleteNamespace({ name: namespace }).catch(() => {});
    },
  };
  if (o.replicas > 0) await workload.waitConverged(o.replicas);
  return workload;
}

/** Is this set of pods fully meshed: each section lists exactly the set, every remote link established? */
export async function meshed(pods: readonly WorkloadPod[]): Promise<boolean> {
  const names = pods
    .map((p) => p.name)
    .sort()
    .join(',');
  for (const p of pods) {
    const s = await p.showPeers().catch(() => undefined);
    if (s === undefined) return false;
    if (
      s.peers
        .map((x) => x.name)
        .sort()
        .join(',') !== names
    )
      return false;
    if (s.peers.filter((x) => !x.local).some((x) => !isEstablished(x))) return false;
  }
  return true;
}

/**
 * The working set of the container a process runs in, as the kubelet computes it: the memory cgroup's
 * usage minus its inactive file pages (cgroup v1 `memory.usage_in_bytes` − `total_inactive_file`, or v2
 * `memory.current` − `inactive_file`).
 */
export async function containerWorkingSetMb(pid: number): Promise<number> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  const mb = (bytes: number): number => Math.round(bytes / 1024 / 10.24) / 100;
  if (v1 !== undefined) {
    const dir = `/sys/fs/cgroup/memory${v1.split(':')[2] ?? ''}`;
    const usage = Number(await readFile(`${dir}/memory.usage_in_bytes`, 'utf8'));
    const inactive = Number(
      /^total_inactive_file (\d+)$/m.exec(await readFile(`${dir}/memory.stat`, 'utf8'))?.[1] ?? 0,
    );
    return mb(Math.max(0, usage - inactive));
  }
  const dir = `/sys/fs/cgroup${lines.find((l) => l.startsWith('0::'))?.slice(3) ?? ''}`;
  const usage = Number(await readFile(`${dir}/memory.current`, 'utf8'));
  const inactive = Number(/^inactive_file (\d+)$/m.exec(await readFile(`${dir}/memory.stat`, 'utf8'))?.[1] ?? 0);
  return mb(Math.max(0, usage - inactive));
}
