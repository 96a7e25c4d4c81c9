/**
 * A container's environment as the kubelet builds it: `envFrom`, then `env` in order (literal values
 * with `$(VAR)` expansion of earlier variables, downward-API `fieldRef` / `resourceFieldRef`, ConfigMap
 * and Secret keys), and the same `$(VAR)` expansion of `command` and `args`.
 * @see https://kubernetes.io/docs/tasks/inject-data-application/environment-variable-expose-pod-information/
 */
import { cpus, totalmem } from 'node:os';
import type { V1Container, V1ObjectFieldSelector, V1Pod, V1ResourceFieldSelector } from '@kubernetes/client-node';
import { PodConfigError, readObjectData, type ObjectSource } from './pod-runner-objects.ts';

/** What the downward API reads that is not in the pod object the runner was given. */
export interface DownwardContext {
  readonly podIP: string;
  readonly hostIP: string;
}

/**
 * Kubernetes' `$(VAR)` expansion: `$(NAME)` becomes the value when NAME is defined and stays as written
 * otherwise; `$$` is an escaped `$`. A port of k8s.io/kubernetes third_party/forked/golang/expansion.
 */
export function expandVariables(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const next = input[cursor + 1];
    let advance = 1;
    if (next === '$') {
      out += '$';
    } else if (next === '(') {
      const close = input.indexOf(')', cursor + 2);
      if (close === -1) {
        out += '$(';
      } else {
        const name = input.slice(cursor + 2, close);
        out += lookup(name) ?? `$(${name})`;
        advance = close - cursor;
      }
    } else {
      out += `$${next}`;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/** The value of a downward-API field path (fieldRef), as env var or downwardAPI volume file. */
export function fieldValue(pod: V1Pod, ref: V1ObjectFieldSelector, ctx: DownwardContext): string {
  const path = ref.fieldPath;
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (labelOrAnnotation !== null) {
    const map = labelOrAnnotation[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[labelOrAnnotation[2] ?? ''] ?? '';
  }
  switch (path) {
    case 'metadata.name': return pod.metadata?.name ?? '';
    case 'metadata.namespace': return pod.metadata?.namespace ?? 'default';
    case 'metadata.uid': return pod.metadata?.uid ?? '';
    case 'metadata.labels': return formatMap(pod.metadata?.labels);
    case 'metadata.annotations': return formatMap(pod.metadata?.annotations);
    case 'spec.nodeName': return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP': case 'status.podIPs': return ctx.podIP;
    case 'status.hostIP': case 'status.hostIPs': return ctx.hostIP;
    default:
      throw new PodConfigError('CreateContainerConfigError', `unsupported fieldRef fieldPath "${path}"`);
  }
}

/** `key="value"` lines, sorted, as the downwardAPI volume writes labels and annotations. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {}).sort().map((k) => `${k}=${JSON.stringify(map?.[k] ?? '')}`).join('\n');
}

/**
 * limits.* / requests.* of a container, divided by the divisor and rounded up; an unset limit is the
 * node's allocatable (here: this machine's CPUs and memory), as the kubelet does.
 */
export function resourceFieldValue(pod: V1Pod, container: V1Container | undefined, ref: V1ResourceFieldSelector): string {
  const target = ref.containerName !== undefined ? findContainer(pod, ref.containerName) : container;
  if (target === undefined) throw new PodConfigError('CreateContainerConfigError', `resourceFieldRef: no container "${ref.containerName ?? ''}"`);
  const [kind, resource] = ref.resource.split('.') as [string, string | undefined];
  const isCpu = resource === 'cpu';
  const values = kind === 'limits' ? target.resources?.limits : target.resources?.requests;
  const raw = values?.[resource ?? ''];
  const fallback = kind === 'limits' ? (isCpu ? cpus().length : totalmem()) : 0;
  const amount = raw === undefined ? fallback : parseQuantity(String(raw));
  const divisor = ref.divisor === undefined ? 1 : parseQuantity(String(ref.divisor));
  if (resource !== 'cpu' && resource !== 'memory' && resource !== 'ephemeral-storage') {
    throw new PodConfigError('CreateContainerConfigError', `unsupported resourceFieldRef resource "${ref.resource}"`);
  }
  return String(Math.max(isCpu ? 1 : 0, Math.ceil(amount / divisor)));
}

const SUFFIXES: Record<string, number> = {
  m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
};

/** A Kubernetes quantity (`100m`, `64Mi`, `1`) as a number. */
export function parseQuantity(quantity: string): number {
  const match = /^([0-9.]+)([a-zA-Z]*)$/.exec(quantity.trim());
  const factor = SUFFIXES[match?.[2] ?? 'x'];
  if (match === null || factor === undefined) throw new PodConfigError('CreateContainerConfigError', `bad quantity "${quantity}"`);
  return Number(match[1]) * factor;
}

function findContainer(pod: V1Pod, name: string): V1Container | undefined {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === name);
}

/**
 * The container's own environment (without what the runtime adds: PATH, HOSTNAME, service variables),
 * in the kubelet's order: `envFrom` sources, then `env`, each `value` expanded against what came before
 * (and `base`, the service variables).
 */
export async function containerEnv(pod: V1Pod, container: V1Container, ctx: DownwardContext & { objects?: ObjectSource; base?: Readonly<Record<string, string>> }): Promise<Record<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    if (ref === undefined) continue;
    const kind = source.configMapRef !== undefined ? 'configMap' : 'secret';
    const data = await readObjectData(ctx.objects, kind, namespace, ref.name ?? '', ref.optional === true);
    for (const [key, value] of data ?? []) env[`${source.prefix ?? ''}${key}`] = value.toString('utf8');
  }
  const lookup = (name: string): string | undefined => env[name] ?? ctx.base?.[name];
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (from === undefined) {
      env[variable.name] = expandVariables(variable.value ?? '', lookup);
    } else if (from.fieldRef !== undefined) {
      env[variable.name] = fieldValue(pod, from.fieldRef, ctx);
    } else if (from.resourceFieldRef !== undefined) {
      env[variable.name] = resourceFieldValue(pod, container, from.resourceFieldRef);
    } else {
      const keyRef = from.configMapKeyRef ?? from.secretKeyRef;
      if (keyRef === undefined) throw new PodConfigError('CreateContainerConfigError', `env ${variable.name}: unsupported valueFrom`);
      const kind = from.configMapKeyRef !== undefined ? 'configMap' : 'secret';
      const optional = keyRef.optional === true;
      const data = await readObjectData(ctx.objects, kind, namespace, keyRef.name ?? '', optional);
      const value = data?.get(keyRef.key);
      if (value !== undefined) env[variable.name] = value.toString('utf8');
      else if (!optional) {
        throw new PodConfigError('CreateContainerConfigError', `couldn't find key ${keyRef.key} in ${kind} ${namespace}/${keyRef.name ?? ''}`, { retryable: true });
      }
    }
  }
  return env;
}
