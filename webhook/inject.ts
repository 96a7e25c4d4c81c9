/**
 * The injection domain, pure: decide whether a pod is injected (shouldInject), check its overrides
 * (validate) and return the injected pod (mutate). No I/O, no clock: the handler turns the result into
 * an AdmissionReview and patch.ts turns "original vs mutated" into a JSON patch.
 *
 * Shape follows hashicorp/vault-k8s's agent-inject/agent (ShouldInject / Validate / Patch).
 * Native sidecars: https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
 */
import type { V1Container, V1Pod, V1PodSpec, V1Volume } from '@kubernetes/client-node';
import { ANNOTATIONS, DEFAULTS, INJECT_LABEL, NAMES, PREFIX, type SidecarMode } from './annotations.ts';
import { RUNTIME_DIR, SHARED_GID, SYNC_MODES, type SyncMode } from '../common/contract.ts';
import { parse } from '../common/config.ts';
import { haproxyCommand } from './haproxy-command.ts';
import { initContainer, syncerContainer } from './containers.ts';
import { withDataplaneapiConfig } from './dataplaneapi.ts';
import { planDrain, withDrain } from './drain.ts';
import type { InjectorConfig, InjectSettings } from './settings.ts';

export { haproxyCommand } from './haproxy-command.ts';

export type SkipReason = 'not-labelled' | 'already-injected';

export type Decision =
  | { readonly kind: 'skip'; readonly reason: SkipReason }
  | { readonly kind: 'deny'; readonly message: string }
  | { readonly kind: 'inject'; readonly pod: V1Pod; readonly warnings: readonly string[] };

/**
 * Injection is opt-in by label (the MutatingWebhookConfiguration's objectSelector selects on it too; we
 * check again so a broad selector never touches an unlabelled pod). A pod that already carries our
 * status annotation or our syncer is left alone: reinvocation, a second webhook registration or a
 * re-applied manifest must not inject twice.
 */
export function shouldInject(pod: V1Pod): { inject: true } | { inject: false; reason: SkipReason } {
  if (pod.metadata?.labels?.[INJECT_LABEL] !== 'true') return { inject: false, reason: 'not-labelled' };
  const annotations = pod.metadata?.annotations ?? {};
  if (annotations[ANNOTATIONS.status] !== undefined) return { inject: false, reason: 'already-injected' };
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (all.some((c) => c.name === NAMES.syncer)) return { inject: false, reason: 'already-injected' };
  return { inject: true };
}

/** Our annotations, to warn about a misspelt one (built once, not per admission). */
const KNOWN_ANNOTATIONS: ReadonlySet<string> = new Set<string>(Object.values(ANNOTATIONS));

type Validation = { ok: true; settings: InjectSettings; warnings: string[] } | { ok: false; problems: string[] };

/**
 * Resolves the pod's settings from its annotations and the webhook defaults. Every problem names the
 * annotation to fix; a problem means the pod is denied rather than injected with something broken.
 */
export function validate(pod: V1Pod, config: InjectorConfig): Validation {
  const problems: string[] = [];
  const warnings: string[] = [];
  const annotations = pod.metadata?.annotations ?? {};
  const labels = pod.metadata?.labels ?? {};
  const containers = pod.spec?.containers ?? [];

  for (const key of Object.keys(annotations)) {
    if (key.startsWith(PREFIX) && !KNOWN_ANNOTATIONS.has(key))
      warnings.push(`annotation ${key} is not one haproxy-peer-sync knows; it is ignored`);
  }

  const read = <T>(key: string, parse: (raw: string) => T, fallback: T): T => {
    const raw = annotations[key];
    if (raw === undefined) return fallback;
    try {
      return parse(raw);
    } catch (err) {
      problems.push(`annotation ${key}: ${(err as Error).message}`);
      return fallback;
    }
  };

  let service = read<string | undefined>(ANNOTATIONS.service, parse.dnsLabel, undefined);
  if (service === undefined && annotations[ANNOTATIONS.service] === undefined) {
    const fromLabel = labels['app.kubernetes.io/name'] ?? labels['app'];
    if (fromLabel === undefined) {
      problems.push(
        `annotation ${ANNOTATIONS.service} is required when the pod has no app.kubernetes.io/name or app label: set it to the headless Service that selects the HAProxy replicas`,
      );
    } else {
      try {
        service = parse.dnsLabel(fromLabel);
      } catch (err) {
        problems.push(
          `annotation ${ANNOTATIONS.service} is not set and the pod's app label cannot be used: ${(err as Error).message}`,
        );
      }
    }
  }
  const peersSection = read(ANNOTATIONS.peersSection, parse.haproxyName, DEFAULTS.peersSection);
  const peerPort = read(ANNOTATIONS.peerPort, parse.port, DEFAULTS.peerPort);
  const dataplaneapiPort = read(ANNOTATIONS.dataplaneapiPort, parse.port, DEFAULTS.dataplaneapiPort);
  const sidecarMode = read<SidecarMode>(ANNOTATIONS.sidecarMode, parse.oneOf('native', 'regular'), config.sidecarMode);
  const mode = read<SyncMode>(ANNOTATIONS.mode, parse.oneOf(...SYNC_MODES), DEFAULTS.mode);
  const configPath = read(ANNOTATIONS.config, parse.haproxyPath, DEFAULTS.config);

  if (peerPort === config.healthPort)
    problems.push(`annotation ${ANNOTATIONS.peerPort}: ${peerPort} is the syncer's health port; choose another port`);
  if (mode === 'dataplaneapi' && dataplaneapiPort === config.healthPort)
    problems.push(
      `annotation ${ANNOTATIONS.dataplaneapiPort}: ${dataplaneapiPort} is the syncer's health port; choose another port`,
    );
  const dataplaneapiBinary = read<string | undefined>(ANNOTATIONS.dataplaneapiBinary, parse.haproxyPath, undefined);
  if (mode !== 'dataplaneapi' && dataplaneapiBinary !== undefined)
    warnings.push(`annotation ${ANNOTATIONS.dataplaneapiBinary} is ignored: the mode is ${mode}, not dataplaneapi`);
  if (mode === 'dataplaneapi' && dataplaneapiPort === peerPort)
    problems.push(
      `annotation ${ANNOTATIONS.dataplaneapiPort}: ${dataplaneapiPort} is also the peer port (${ANNOTATIONS.peerPort})`,
    );

  let containerIndex = -1;
  const wanted = annotations[ANNOTATIONS.container];
  if (containers.length === 0) {
    problems.push('the pod has no containers');
  } else if (wanted !== undefined) {
    containerIndex = containers.findIndex((c) => c.name === wanted);
    if (containerIndex === -1) {
      problems.push(
        `annotation ${ANNOTATIONS.container}: no container named "${wanted}" (containers: ${containers.map((c) => c.name).join(', ')})`,
      );
    }
  } else {
    containerIndex = Math.max(
      0,
      containers.findIndex((c) => c.name === 'haproxy'),
    );
  }

  const volumes = pod.spec?.volumes ?? [];
  if (volumes.some((v) => v.name === NAMES.volume))
    problems.push(
      `the pod already has a volume named "${NAMES.volume}"; rename it, or remove the label ${INJECT_LABEL}`,
    );
  const allContainers = [...(pod.spec?.initContainers ?? []), ...containers];
  if (allContainers.some((c) => c.name === NAMES.init))
    problems.push(
      `the pod already has a container named "${NAMES.init}"; rename it, or remove the label ${INJECT_LABEL}`,
    );

  const haproxy = containers[containerIndex];
  let argv: { command: string[] | undefined; args: string[] | undefined } = { command: undefined, args: undefined };
  if (haproxy !== undefined) {
    if ((haproxy.volumeMounts ?? []).some((m) => m.mountPath.replace(/\/+$/, '') === RUNTIME_DIR)) {
      problems.push(
        `container "${haproxy.name}" already mounts something at ${RUNTIME_DIR}; haproxy-peer-sync needs that path (see annotation ${ANNOTATIONS.container})`,
      );
    }
    const rewritten = haproxyCommand(haproxy, configPath);
    if ('problem' in rewritten) problems.push(rewritten.problem);
    else {
      // Mode dataplaneapi: HAProxy also loads the file whose program section starts the API.
      argv = mode === 'dataplaneapi' ? withDataplaneapiConfig(haproxy, rewritten) : rewritten;
      if (rewritten.userConfigKept && annotations[ANNOTATIONS.config] !== undefined) {
        warnings.push(
          `annotation ${ANNOTATIONS.config} is ignored: container "${haproxy.name}" already passes -f to haproxy`,
        );
      }
    }
  }

  const drain = planDrain(pod, containerIndex, config.drainSeconds);
  problems.push(...drain.problems);
  warnings.push(...drain.warnings);

  const podUser = pod.spec?.securityContext?.runAsUser;
  const podGroup = pod.spec?.securityContext?.runAsGroup;
  const chosenUser = haproxy?.securityContext?.runAsUser ?? podUser;
  // Reuse HAProxy's uid so the 0600 credentials we write are readable by it; root is never reused
  // because our containers run with runAsNonRoot (and root can read them anyway).
  const runAsUser = chosenUser === undefined || chosenUser === 0 ? DEFAULTS.runAsUser : chosenUser;
  const runAsGroup = haproxy?.securityContext?.runAsGroup ?? podGroup;
  if (mode === 'dataplaneapi' && chosenUser === undefined && haproxy !== undefined) {
    // HAProxy loads the API's userlist and program section from a 0600 file: it must run as the uid that wrote it.
    warnings.push(
      `container "${haproxy.name}" sets no securityContext.runAsUser: the Data Plane API's files are written 0600 by uid ${DEFAULTS.runAsUser}, and HAProxy cannot start if it runs as another uid and cannot read them`,
    );
  }

  if (problems.length > 0 || haproxy === undefined || service === undefined) return { ok: false, problems };
  return {
    ok: true,
    warnings,
    settings: {
      service,
      peersSection,
      peerPort,
      containerIndex,
      containerName: haproxy.name,
      config: configPath,
      dataplaneapiPort,
      dataplaneapiBinary,
      sidecarMode,
      mode,
      runAsUser,
      runAsGroup: runAsGroup === 0 ? undefined : runAsGroup,
      command: argv.command,
      args: argv.args,
      drainSeconds: drain.seconds,
    },
  };
}

/**
 * Returns a new pod with the init container, the syncer, the shared volume, the HAProxy container's
 * mount and command, and the status annotation. The input is not modified (patch.ts diffs the two).
 *
 * Copy-on-write: only the objects on a changed path are new (the pod, its metadata and annotations, its
 * spec, the HAProxy container, the lists we extend); everything else is shared with the input. Keys keep
 * their order, new ones come last, exactly as assigning into a deep copy would. fast-json-patch's diff
 * skips identical references, so an admission neither deep-copies the pod nor walks its unchanged parts.
 */
export function mutate(pod: V1Pod, settings: InjectSettings, config: InjectorConfig): V1Pod {
  const metadata = {
    ...pod.metadata,
    annotations: { ...(pod.metadata?.annotations ?? {}), [ANNOTATIONS.status]: `injected; version=${config.version}` },
  };
  const source: V1PodSpec = pod.spec ?? { containers: [] };
  const spec: V1PodSpec = { ...source };

  const haproxy = source.containers[settings.containerIndex];
  if (haproxy !== undefined) {
    const wired: V1Container = {
      ...haproxy,
      volumeMounts: [...(haproxy.volumeMounts ?? []), { name: NAMES.volume, mountPath: RUNTIME_DIR }],
    };
    if (settings.command !== undefined) wired.command = settings.command;
    if (settings.args !== undefined) wired.args = settings.args;
    const lifecycle = withDrain(haproxy.lifecycle, settings.drainSeconds);
    if (lifecycle !== undefined) wired.lifecycle = lifecycle;
    spec.containers = source.containers.map((c, i) => (i === settings.containerIndex ? wired : c));
  }
  // Every container (HAProxy as whatever uid its image or securityContext gives it, and ours) shares a
  // group, which owns the master socket (MASTER_SOCKET_BIND).
  const groups = spec.securityContext?.supplementalGroups ?? [];
  if (!groups.includes(SHARED_GID))
    spec.securityContext = { ...spec.securityContext, supplementalGroups: [...groups, SHARED_GID] };
  // Memory-backed: the credentials never touch the node's disk.
  const volume: V1Volume = { name: NAMES.volume, emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } };
  spec.volumes = [...(spec.volumes ?? []), volume];

  const syncer = syncerContainer(settings, config);
  if (settings.sidecarMode === 'native') {
    // Native sidecar after our init container: it starts once the first peers file exists, before
    // HAProxy, and stops after it. https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
    spec.initContainers = [
      ...(spec.initContainers ?? []),
      initContainer(settings, config),
      { ...syncer, restartPolicy: 'Always' },
    ];
  } else {
    spec.initContainers = [...(spec.initContainers ?? []), initContainer(settings, config)];
    spec.containers = [...spec.containers, syncer];
  }
  return { ...pod, metadata, spec };
}

/** ShouldInject, then Validate, then Patch: one answer for one pod. */
export function decide(pod: V1Pod, config: InjectorConfig): Decision {
  const should = shouldInject(pod);
  if (!should.inject) return { kind: 'skip', reason: should.reason };
  const checked = validate(pod, config);
  if (!checked.ok)
    return { kind: 'deny', message: `haproxy-peer-sync cannot inject this pod: ${checked.problems.join('; ')}` };
  return { kind: 'inject', pod: mutate(pod, checked.settings, config), warnings: checked.warnings };
}
