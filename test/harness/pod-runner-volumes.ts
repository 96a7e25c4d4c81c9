/**
 * A pod's volumes as host directories under its pod dir, and for each container the list of bind
 * mounts (host path → path in the container) that its private mount namespace gets. The same host
 * directory bound into several containers is what makes an emptyDir shared, exactly as in a pod.
 * @see https://kubernetes.io/docs/concepts/storage/volumes/
 */
import { mkdir, rename, writeFile, chmod } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type { V1Container, V1DownwardAPIVolumeFile, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { fieldValue, resourceFieldValue, type DownwardContext } from './pod-runner-env.ts';
import { PodConfigError, readObjectData, type ObjectSource } from './pod-runner-objects.ts';

/** Where in-cluster clients (client-go, @kubernetes/client-node) look for the pod's credentials. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Options of a TokenRequest, as a projected `serviceAccountToken` source asks for them. */
export interface TokenRequestOptions {
  readonly audiences?: readonly string[];
  readonly expirationSeconds?: number;
  /** The pod the token is bound to (the kubelet binds every projected token to its pod). */
  readonly boundPod?: { readonly name: string; readonly uid?: string };
}

/** How pods reach the apiserver: in-cluster config needs its address, its CA and a token. */
export interface KubeAccess {
  /** The apiserver URL, e.g. `https://127.0.0.1:6443` (KUBERNETES_SERVICE_HOST/PORT come from it). */
  readonly server: string;
  readonly caPem: string;
  /** A token for the ServiceAccount from the TokenRequest API (`serviceaccounts/token`). */
  tokenFor(serviceAccount: string, namespace: string, request?: TokenRequestOptions): Promise<string>;
}

/** One bind mount of a container: a host file or directory on a path inside the container. */
export interface Mount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** The prepared volumes of one pod. */
export interface PodVolumes {
  /** Volume name → host directory. */
  readonly dirs: ReadonlyMap<string, string>;
  /** The mounts of one container: its volumeMounts, plus the runtime's (SA token, resolv.conf, hosts). */
  mountsFor(container: V1Container): Mount[];
  /** Stops refreshing tokens. */
  close(): void;
}

/** What {@link preparePodVolumes} needs besides the pod. */
export interface VolumeOptions extends DownwardContext {
  readonly podDir: string;
  readonly objects?: ObjectSource;
  readonly kube?: KubeAccess;
  /** The pod's /etc/resolv.conf (from the cluster-DNS stand-in), for dnsPolicy ClusterFirst. */
  readonly resolvConf?: string;
  readonly logger: Logger;
}

const SYNTHETIC_SA_VOLUME = 'kube-api-access-lab';
const DEFAULT_TOKEN_SECONDS = 3607;

/**
 * Creates every volume of the pod under `podDir/volumes/<name>` and fills ConfigMap, Secret,
 * downwardAPI and projected ones. Throws {@link PodConfigError} (retryable when a referenced object is
 * missing). Tokens are refreshed at 80% of their lifetime, as the kubelet does.
 */
export async function preparePodVolumes(pod: V1Pod, opts: VolumeOptions): Promise<PodVolumes> {
  const dirs = new Map<string, string>();
  const timers: NodeJS.Timeout[] = [];
  const close = (): void => { for (const t of timers) clearTimeout(t); };
  try {
    for (const volume of pod.spec?.volumes ?? []) {
      const dir = join(opts.podDir, 'volumes', volume.name);
      await mkdir(dir, { recursive: true });
      await fillVolume(pod, volume, dir, opts, timers);
      dirs.set(volume.name, dir);
    }
    const needsSynthetic = opts.kube !== undefined && pod.spec?.automountServiceAccountToken !== false
      && allContainers(pod).some((c) => !mountsServiceAccount(c));
    if (needsSynthetic) {
      const dir = join(opts.podDir, 'volumes', SYNTHETIC_SA_VOLUME);
      await mkdir(dir, { recursive: true });
      await fillVolume(pod, kubeApiAccessVolume(), dir, opts, timers);
      dirs.set(SYNTHETIC_SA_VOLUME, dir);
    }
    const etc = await writeEtcFiles(pod, opts);
    return { dirs, close, mountsFor: (container) => containerMounts(pod, container, dirs, etc) };
  } catch (err) {
    close();
    throw err;
  }
}

function allContainers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

function mountsServiceAccount(container: V1Container): boolean {
  return (container.volumeMounts ?? []).some((m) => normalize(m.mountPath) === SERVICE_ACCOUNT_DIR);
}

/** The volume the ServiceAccount admission plugin adds (when the pod did not go through it). */
function kubeApiAccessVolume(): V1Volume {
  return {
    name: SYNTHETIC_SA_VOLUME,
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: DEFAULT_TOKEN_SECONDS } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
}

async function fillVolume(pod: V1Pod, volume: V1Volume, dir: string, opts: VolumeOptions, timers: NodeJS.Timeout[]): Promise<void> {
  const namespace = pod.metadata?.namespace ?? 'default';
  if (volume.emptyDir !== undefined) return; // medium: Memory and sizeLimit are not enforced in the lab.
  if (volume.configMap !== undefined || volume.secret !== undefined) {
    const isCm = volume.configMap !== undefined;
    const src = volume.configMap ?? volume.secret;
    const name = volume.configMap?.name ?? volume.secret?.secretName ?? '';
    const data = await readObjectData(opts.objects, isCm ? 'configMap' : 'secret', namespace, name, src?.optional === true);
    await writeKeys(dir, data, src?.items, src?.defaultMode ?? 0o644, `${volume.name}: ${name}`, src?.optional === true);
    return;
  }
  if (volume.downwardAPI !== undefined) {
    await writeDownward(pod, dir, volume.downwardAPI.items ?? [], volume.downwardAPI.defaultMode ?? 0o644, opts);
    return;
  }
  if (volume.projected !== undefined) {
    const mode = volume.projected.defaultMode ?? 0o644;
    for (const source of volume.projected.sources ?? []) {
      if (source.configMap !== undefined || source.secret !== undefined) {
        const isCm = source.configMap !== undefined;
        const name = source.configMap?.name ?? source.secret?.name ?? '';
        const optional = (source.configMap ?? source.secret)?.optional === true;
        let data: Map<string, Buffer> | undefined;
        // The root CA ConfigMap is published by kube-controller-manager; without it, use the CA we know.
        if (isCm && name === 'kube-root-ca.crt' && opts.kube !== undefined) {
          data = (await readObjectData(opts.objects, 'configMap', namespace, name, true).catch(() => undefined))
            ?? new Map([['ca.crt', Buffer.from(opts.kube.caPem)]]);
        } else {
          data = await readObjectData(opts.objects, isCm ? 'configMap' : 'secret', namespace, name, optional);
        }
        await writeKeys(dir, data, (source.configMap ?? source.secret)?.items, mode, `${volume.name}: ${name}`, optional);
      } else if (source.downwardAPI !== undefined) {
        await writeDownward(pod, dir, source.downwardAPI.items ?? [], mode, opts);
      } else if (source.serviceAccountToken !== undefined) {
        await projectToken(pod, dir, source.serviceAccountToken, mode, opts, timers);
      } else {
        throw new PodConfigError('CreateContainerConfigError', `volume ${volume.name}: unsupported projected source`);
      }
    }
    return;
  }
  const kind = Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
  throw new PodConfigError('CreateContainerConfigError', `volume ${volume.name}: type ${kind} is not supported by the lab's pod runner`);
}

async function writeKeys(dir: string, data: Map<string, Buffer> | undefined, items: readonly V1KeyToPath[] | undefined, mode: number, what: string, optional: boolean): Promise<void> {
  if (data === undefined) return;
  const wanted = items ?? [...data.keys()].map((key): V1KeyToPath => ({ key, path: key }));
  for (const item of wanted) {
    const value = data.get(item.key);
    if (value === undefined) {
      if (optional) continue;
      throw new PodConfigError('CreateContainerConfigError', `${what}: key "${item.key}" not found`, { retryable: true });
    }
    await writeFileAtomic(dir, item.path, value, item.mode ?? mode);
  }
}

async function writeDownward(pod: V1Pod, dir: string, items: readonly V1DownwardAPIVolumeFile[], mode: number, ctx: DownwardContext): Promise<void> {
  for (const item of items) {
    let value: string;
    if (item.fieldRef !== undefined) value = fieldValue(pod, item.fieldRef, ctx);
    else if (item.resourceFieldRef !== undefined) value = resourceFieldValue(pod, undefined, item.resourceFieldRef);
    else throw new PodConfigError('CreateContainerConfigError', `downwardAPI item ${item.path}: no fieldRef or resourceFieldRef`);
    await writeFileAtomic(dir, item.path, Buffer.from(value), item.mode ?? mode);
  }
}

async function projectToken(pod: V1Pod, dir: string, source: { audience?: string; expirationSeconds?: number; path: string }, mode: number, opts: VolumeOptions, timers: NodeJS.Timeout[]): Promise<void> {
  const kube = opts.kube;
  if (kube === undefined) {
    throw new PodConfigError('CreateContainerConfigError', 'a serviceAccountToken volume needs the kube option (apiserver and token source)');
  }
  const serviceAccount = pod.spec?.serviceAccountName ?? 'default';
  const namespace = pod.metadata?.namespace ?? 'default';
  const expirationSeconds = source.expirationSeconds ?? DEFAULT_TOKEN_SECONDS;
  const request: TokenRequestOptions = {
    ...(source.audience !== undefined && source.audience !== '' ? { audiences: [source.audience] } : {}),
    expirationSeconds,
    boundPod: { name: pod.metadata?.name ?? '', ...(pod.metadata?.uid !== undefined ? { uid: pod.metadata.uid } : {}) },
  };
  const write = async (): Promise<void> => {
    const token = await kube.tokenFor(serviceAccount, namespace, request);
    // Rename into place: a client re-reading the file never sees half a token.
    await writeFileAtomic(dir, source.path, Buffer.from(token), mode);
  };
  await write();
  const refresh = (): void => {
    const timer = setTimeout(() => {
      write().catch((err: unknown) => opts.logger.warn({ err, serviceAccount }, 'service account token refresh failed; retrying'))
        .finally(refresh);
    }, expirationSeconds * 800);
    timer.unref();
    timers.push(timer);
  };
  refresh();
}

async function writeFileAtomic(dir: string, path: string, data: Buffer, mode: number): Promise<void> {
  const target = join(dir, path);
  if (!target.startsWith(dir + '/')) throw new PodConfigError('CreateContainerConfigError', `item path "${path}" leaves its volume`);
  await mkdir(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await chmod(tmp, mode);
  await rename(tmp, target);
}

interface EtcFiles { readonly hosts: string; readonly resolvConf?: string }

/** The kubelet-managed /etc/hosts (pod IP → hostname) and, per dnsPolicy, /etc/resolv.conf. */
async function writeEtcFiles(pod: V1Pod, opts: VolumeOptions): Promise<EtcFiles> {
  const etc = join(opts.podDir, 'etc');
  await mkdir(etc, { recursive: true });
  const hostname = podHostname(pod);
  const hosts = ['# Kubernetes-managed hosts file (lab pod runner).', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback',
    `${opts.podIP}\t${hostname}`, ...(pod.spec?.hostAliases ?? []).map((a) => `${a.ip}\t${(a.hostnames ?? []).join('\t')}`), ''].join('\n');
  await writeFile(join(etc, 'hosts'), hosts);
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  let resolv: string | undefined;
  if (policy === 'None') {
    const cfg = pod.spec?.dnsConfig;
    resolv = [...(cfg?.nameservers ?? []).map((n) => `nameserver ${n}`),
      ...(cfg?.searches !== undefined ? [`search ${cfg.searches.join(' ')}`] : []),
      ...(cfg?.options !== undefined ? [`options ${cfg.options.map((o) => (o.value !== undefined ? `${o.name}:${o.value}` : o.name)).join(' ')}`] : []), ''].join('\n');
  } else if (policy !== 'Default' && opts.resolvConf !== undefined) {
    resolv = opts.resolvConf;
  }
  if (resolv === undefined) return { hosts: join(etc, 'hosts') };
  await writeFile(join(etc, 'resolv.conf'), resolv);
  return { hosts: join(etc, 'hosts'), resolvConf: join(etc, 'resolv.conf') };
}

/** The pod's hostname: `spec.hostname` or its name, cut to 63 characters as the kubelet does. */
export function podHostname(pod: V1Pod): string {
  return (pod.spec?.hostname ?? pod.metadata?.name ?? 'pod').slice(0, 63).replace(/[-.]+$/, '');
}

function containerMounts(pod: V1Pod, container: V1Container, dirs: ReadonlyMap<string, string>, etc: EtcFiles): Mount[] {
  const mounts: Mount[] = [];
  for (const m of container.volumeMounts ?? []) {
    const dir = dirs.get(m.name);
    if (dir === undefined) throw new PodConfigError('CreateContainerConfigError', `container ${container.name}: volumeMount "${m.name}" names no volume`);
    const volume = pod.spec?.volumes?.find((v) => v.name === m.name);
    const subPath = m.subPath ?? '';
    const source = subPath === '' ? dir : join(dir, subPath);
    if (source !== dir && !source.startsWith(`${dir}/`)) throw new PodConfigError('CreateContainerConfigError', `container ${container.name}: subPath "${subPath}" leaves its volume`);
    // ConfigMap, Secret, downwardAPI and projected volumes are always read-only in a pod.
    const alwaysReadOnly = volume?.emptyDir === undefined;
    mounts.push({ source, target: normalize(m.mountPath), readOnly: m.readOnly === true || alwaysReadOnly });
  }
  const synthetic = dirs.get(SYNTHETIC_SA_VOLUME);
  if (synthetic !== undefined && !mountsServiceAccount(container)) {
    mounts.push({ source: synthetic, target: SERVICE_ACCOUNT_DIR, readOnly: true });
  }
  // Like the kubelet: /etc/hosts and /etc/resolv.conf unless the container mounts something there itself.
  const taken = new Set(mounts.map((m) => m.target));
  if (!taken.has('/etc/hosts')) mounts.push({ source: etc.hosts, target: '/etc/hosts', readOnly: false });
  if (etc.resolvConf !== undefined && !taken.has('/etc/resolv.conf')) {
    mounts.push({ source: etc.resolvConf, target: '/etc/resolv.conf', readOnly: false });
  }
  return mounts;
}
