/**
 * What the stand-in writes: Node objects and the status of a running pod. Pure functions of their
 * inputs (the clock is passed in), so the writing code only decides *when*.
 * Pod status fields follow https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
 */
import type { V1Node, V1NodeCondition, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';

/** Labels every stand-in node carries; pods can select them with `nodeSelector`. */
export function nodeLabels(name: string): Record<string, string> {
  return {
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'haproxy-peer-sync.test/kubelet-standin': 'true',
  };
}

/** A Node as the stand-in registers it (spec and metadata; the status comes from {@link nodeStatus}). */
export function nodeObject(name: string): V1Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: nodeLabels(name) }, spec: {} };
}

/** A healthy node's status: Ready, no pressure, reachable at `nodeIp`. Sent on every heartbeat. */
export function nodeStatus(name: string, nodeIp: string, now: Date): V1Node['status'] {
  const at = now;
  const condition = (type: string, status: string, reason: string): V1NodeCondition => ({
    type, status, reason, message: `kubelet stand-in: ${reason}`,
    lastHeartbeatTime: at, lastTransitionTime: at,
  });
  const resources = { cpu: '8', memory: '16Gi', pods: '250', 'ephemeral-storage': '100Gi' };
  return {
    conditions: [
      condition('Ready', 'True', 'KubeletReady'),
      condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
      condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
      condition('PIDPressure', 'False', 'KubeletHasSufficientPID'),
    ],
    addresses: [{ type: 'InternalIP', address: nodeIp }, { type: 'Hostname', address: name }],
    capacity: resources,
    allocatable: resources,
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      architecture: 'amd64', operatingSystem: 'linux', osImage: 'haproxy-peer-sync kubelet stand-in',
      kernelVersion: '', containerRuntimeVersion: 'standin://1', kubeletVersion: 'v0.0.0-standin',
      kubeProxyVersion: '', machineID: name, systemUUID: name, bootID: name,
    },
  };
}

/** Inputs of {@link runningPodStatus}. */
export interface RunningInputs {
  readonly podIP: string;
  readonly hostIP: string;
  readonly ready: boolean;
  readonly now: Date;
}

/**
 * The status of a pod whose containers all run: phase Running, its address, and Ready/ContainersReady
 * following `ready`. Times already in `pod.status` are kept when nothing changed, so rewriting the same
 * state is a no-op for watchers that compare conditions.
 */
export function runningPodStatus(pod: V1Pod, inputs: RunningInputs): V1PodStatus {
  const prev = pod.status;
  // Dates serialise to RFC 3339 with milliseconds, which the apiserver accepts and truncates to seconds.
  // Times read back from a watch are strings, not Dates: they are passed through untouched.
  const at = inputs.now;
  const startTime = prev?.startTime ?? at;
  const readyWord = inputs.ready ? 'True' : 'False';
  const condition = (type: string, status: string): V1PodCondition => {
    const old = prev?.conditions?.find((c) => c.type === type);
    return { type, status, lastTransitionTime: old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : at,
      ...(status === 'False' ? { reason: 'ContainersNotReady', message: 'kubelet stand-in: not ready' } : {}) };
  };
  const startedAt = (name: string): Date =>
    prev?.containerStatuses?.find((c) => c.name === name)?.state?.running?.startedAt ?? startTime;
  return {
    phase: 'Running',
    hostIP: inputs.hostIP,
    hostIPs: [{ ip: inputs.hostIP }],
    podIP: inputs.podIP,
    podIPs: [{ ip: inputs.podIP }],
    startTime,
    qosClass: prev?.qosClass ?? 'BestEffort',
    conditions: [
      condition('PodReadyToStartContainers', 'True'),
      condition('Initialized', 'True'),
      condition('Ready', readyWord),
      condition('ContainersReady', readyWord),
      condition('PodScheduled', 'True'),
    ],
    // A native sidecar (restartPolicy Always) keeps running and counts towards readiness, as kubectl's
    // READY column shows it; a plain init container has completed.
    initContainerStatuses: (pod.spec?.initContainers ?? []).map((c) => c.restartPolicy === 'Always'
      ? { name: c.name, image: c.image ?? '', imageID: '', containerID: containerId(pod, c.name), ready: inputs.ready, started: true,
          restartCount: 0, state: { running: { startedAt: startTime } } }
      : { name: c.name, image: c.image ?? '', imageID: '', containerID: containerId(pod, c.name), ready: true, restartCount: 0,
          state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: startTime, finishedAt: startTime } } }),
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name, image: c.image ?? '', imageID: '', containerID: containerId(pod, c.name),
      ready: inputs.ready, started: true, restartCount: 0, state: { running: { startedAt: startedAt(c.name) } },
    })),
  };
}

function containerId(pod: V1Pod, name: string): string {
  return `standin://${pod.metadata?.uid ?? ''}/${name}`;
}

/** True when `pod.status` already shows what `desired` says, on every field the stand-in owns. */
export function statusMatches(pod: V1Pod, desired: V1PodStatus): boolean {
  const cur = pod.status;
  if (!cur) return false;
  if (cur.phase !== desired.phase || cur.podIP !== desired.podIP || cur.hostIP !== desired.hostIP) return false;
  if (cur.podIPs?.[0]?.ip !== desired.podIPs?.[0]?.ip) return false;
  for (const want of desired.conditions ?? []) {
    if (cur.conditions?.find((c) => c.type === want.type)?.status !== want.status) return false;
  }
  const curContainers = cur.containerStatuses ?? [];
  const wantContainers = desired.containerStatuses ?? [];
  if (curContainers.length !== wantContainers.length) return false;
  return wantContainers.every((w) => curContainers.find((c) => c.name === w.name)?.ready === w.ready);
}

/** The Ready condition as a boolean (false when absent). */
export function podReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}
