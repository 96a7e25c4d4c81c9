/**
 * The containers the webhook adds, pure. Both run our image, hardened the same way (Pod Security
 * "restricted": non-root, read-only root filesystem, no privilege escalation, no capabilities,
 * RuntimeDefault seccomp) with requests and limits from the webhook's flags.
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
 */
import type { V1Container, V1EnvVar, V1Probe, V1SecurityContext } from '@kubernetes/client-node';
import { NAMES } from './annotations.ts';
import { dataplaneapiUrl, ENV, RUNTIME_DIR, runtimePaths } from '../common/contract.ts';
import type { InjectorConfig, InjectSettings } from './settings.ts';
import { dataplaneapiInitEnv } from './dataplaneapi.ts';
import { withDrain } from './drain.ts';
import { firstPeersScript } from './first-peers.ts';

function fieldEnv(name: string, fieldPath: string): V1EnvVar {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

function securityContext(settings: InjectSettings): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: settings.runAsUser,
    ...(settings.runAsGroup === undefined ? {} : { runAsGroup: settings.runAsGroup }),
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function resources(config: InjectorConfig): V1Container['resources'] {
  return { requests: { ...config.resources.requests }, limits: { ...config.resources.limits } };
}

/**
 * The init container: the first peers file and, in mode dataplaneapi, the API's credentials (0600) and
 * configuration (init/main.ts); in mode direct, the peers file alone, by first-peers.ts's shell script.
 */
export function initContainer(settings: InjectSettings, config: InjectorConfig): V1Container {
  return {
    name: NAMES.init,
    image: config.image,
    ...(config.imagePullPolicy === undefined ? {} : { imagePullPolicy: config.imagePullPolicy }),
    // Direct mode needs only the first peers file: a shell script in our image writes it (see
    // first-peers.ts for why not Node); the Data Plane API's credentials need our program.
    command: settings.mode === 'direct' ? ['/bin/sh', '-c', firstPeersScript()] : ['haproxy-peer-sync', 'init'],
    env: [
      fieldEnv(ENV.podName, 'metadata.name'),
      fieldEnv(ENV.podIp, 'status.podIP'),
      { name: ENV.peersSection, value: settings.peersSection },
      { name: ENV.peerPort, value: String(settings.peerPort) },
      { name: ENV.runtimeDir, value: RUNTIME_DIR },
      ...(settings.mode === 'dataplaneapi'
        ? dataplaneapiInitEnv(settings.dataplaneapiPort, settings.dataplaneapiBinary)
        : []),
    ],
    volumeMounts: [{ name: NAMES.volume, mountPath: RUNTIME_DIR }],
    resources: resources(config),
    securityContext: securityContext(settings),
  };
}

function httpProbe(path: string, periodSeconds: number, failureThreshold: number): V1Probe {
  return { httpGet: { path, port: NAMES.healthPortName }, periodSeconds, failureThreshold };
}

/** The syncer, with its settings as the contract's environment variables (syncer/options.ts) and probes on its health port. */
export function syncerContainer(settings: InjectSettings, config: InjectorConfig): V1Container {
  const env: V1EnvVar[] = [
    fieldEnv(ENV.podName, 'metadata.name'),
    fieldEnv(ENV.podNamespace, 'metadata.namespace'),
    fieldEnv(ENV.podIp, 'status.podIP'),
    { name: ENV.service, value: settings.service },
    { name: ENV.peersSection, value: settings.peersSection },
    { name: ENV.peerPort, value: String(settings.peerPort) },
    { name: ENV.runtimeDir, value: RUNTIME_DIR },
    { name: ENV.mode, value: settings.mode },
    { name: ENV.healthPort, value: String(config.healthPort) },
  ];
  if (settings.mode === 'dataplaneapi') {
    // The Data Plane API listens on localhost in the pod (shared network namespace); the password is
    // the one the init container wrote, read from the file, never passed as a value.
    env.push(
      { name: ENV.dataplaneapiUrl, value: dataplaneapiUrl(settings.dataplaneapiPort) },
      { name: ENV.credentialsFile, value: runtimePaths().password },
    );
  }
  return {
    name: NAMES.syncer,
    image: config.image,
    ...(config.imagePullPolicy === undefined ? {} : { imagePullPolicy: config.imagePullPolicy }),
    command: ['haproxy-peer-sync', 'syncer'],
    env,
    ports: [{ name: NAMES.healthPortName, containerPort: config.healthPort, protocol: 'TCP' }],
    // Every second: the probe is a local HTTP call answered from memory, and a new replica should take
    // traffic as soon as it is taught (at 2 s the bench measured 1.6 s from taught to Ready at p50).
    readinessProbe: httpProbe('/readyz', 1, 3),
    livenessProbe: httpProbe('/healthz', 10, 3),
    // Only a native sidecar's startupProbe holds back the containers after it (HAProxy): the kubelet
    // starts them once the syncer's start-up gate is open — the full peers file is written and every
    // ready replica has declared this pod, so HAProxy's first dial is accepted and it is taught at once.
    ...(settings.sidecarMode === 'native' ? { startupProbe: httpProbe('/startupz', 1, 120) } : {}),
    // A regular container is stopped together with HAProxy, not after it: the same drain keeps the
    // syncer (and so the replica's peers) up while HAProxy still serves.
    ...(settings.sidecarMode === 'regular' && settings.drainSeconds > 0
      ? { lifecycle: withDrain(undefined, settings.drainSeconds) }
      : {}),
    volumeMounts: [{ name: NAMES.volume, mountPath: RUNTIME_DIR }],
    resources: resources(config),
    securityContext: securityContext(settings),
  };
}
