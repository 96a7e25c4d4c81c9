/**
 * Where the pod runner reads the ConfigMaps and Secrets a pod references (volumes, `valueFrom`,
 * `envFrom`): the real apiserver with the kubelet's own credentials (pod-runner-kube.ts), or a fixed
 * list in tests.
 */
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { AppError } from '../../common/errors.ts';

/** Reads the objects a pod references; `undefined` means "does not exist (yet)". */
export interface ObjectSource {
  configMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  secret(namespace: string, name: string): Promise<V1Secret | undefined>;
}

/**
 * The pod cannot be configured. `retryable` when it may work later (a referenced ConfigMap does not
 * exist yet — `kubectl apply` of a folder may create the Deployment first), as the kubelet keeps such a
 * pod in ContainerCreating and retries; otherwise the spec itself is unusable and the pod fails.
 */
export class PodConfigError extends AppError {
  readonly reason: string;
  constructor(reason: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super('HPS_POD_CONFIG', message, options);
    this.reason = reason;
  }
}

/** A fixed set of objects (tests without an apiserver). */
export function objectSourceFromList(objects: { configMaps?: readonly V1ConfigMap[]; secrets?: readonly V1Secret[] }): ObjectSource {
  const find = <T extends { metadata?: { name?: string; namespace?: string } }>(list: readonly T[] | undefined, namespace: string, name: string): T | undefined =>
    list?.find((o) => o.metadata?.name === name && (o.metadata.namespace ?? 'default') === namespace);
  return {
    configMap: (namespace, name) => Promise.resolve(find(objects.configMaps, namespace, name)),
    secret: (namespace, name) => Promise.resolve(find(objects.secrets, namespace, name)),
  };
}

/** Key → bytes of a ConfigMap (`data` and base64 `binaryData`) or a Secret (base64 `data`, `stringData`). */
export function objectData(object: V1ConfigMap | V1Secret, kind: 'configMap' | 'secret'): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (kind === 'configMap') {
    const cm = object as V1ConfigMap;
    for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
    for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  } else {
    const secret = object as V1Secret;
    for (const [k, v] of Object.entries(secret.data ?? {})) out.set(k, Buffer.from(v, 'base64'));
    for (const [k, v] of Object.entries(secret.stringData ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  }
  return out;
}

/** Reads a ConfigMap or Secret, failing (retryably) when it is missing and not optional. */
export async function readObjectData(source: ObjectSource | undefined, kind: 'configMap' | 'secret', namespace: string, name: string, optional: boolean): Promise<Map<string, Buffer> | undefined> {
  if (source === undefined) {
    throw new PodConfigError('CreateContainerConfigError', `${kind} "${name}": the pod runner was given no object source (kube or objects)`);
  }
  const object = kind === 'configMap' ? await source.configMap(namespace, name) : await source.secret(namespace, name);
  if (object === undefined) {
    if (optional) return undefined;
    throw new PodConfigError('CreateContainerConfigError', `${kind} "${name}" not found in namespace "${namespace}"`, { retryable: true });
  }
  return objectData(object, kind);
}
