/**
 * How an injected pod shuts down without failing a request, pure. When the pod is deleted its endpoint
 * is marked terminating at once, but a front load balancer learns that only after the EndpointSlice
 * change has travelled to it (DNS or its own watch). A `preStop` sleep keeps HAProxy serving through
 * that time; then the kubelet sends the image's stop signal (the official image: SIGUSR1, HAProxy's
 * soft stop, which closes idle connections and lets requests in flight finish). The syncer, a native
 * sidecar, is stopped only after HAProxy has exited, so the leaving replica keeps its peers to the end.
 * https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/#hook-handler-implementations
 */
import type { V1Lifecycle, V1Pod } from '@kubernetes/client-node';
import { ANNOTATIONS, DEFAULTS, MAX_DRAIN_SECONDS, STOP_SECONDS_MIN } from './annotations.ts';

/** A drain in whole seconds, 0 (none) to MAX_DRAIN_SECONDS; the flag and the annotation parse it alike. */
export function parseDrainSeconds(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_DRAIN_SECONDS)
    throw new Error(`"${raw}" is not a whole number of seconds from 0 (no drain) to ${MAX_DRAIN_SECONDS}`);
  return Number(raw);
}

export interface DrainPlan {
  /** Seconds of the preStop sleep the webhook adds; 0 when it adds none. */
  readonly seconds: number;
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
}

/**
 * Decides the drain of one pod. An annotation that cannot be honoured is a problem (the pod is denied,
 * naming the annotation); the default adapts to what the user set instead: it gives way to their own
 * preStop hook and shrinks to fit their terminationGracePeriodSeconds, each time with a warning.
 */
export function planDrain(
  pod: V1Pod,
  containerIndex: number,
  defaultSeconds: number = DEFAULTS.drainSeconds,
): DrainPlan {
  const raw = pod.metadata?.annotations?.[ANNOTATIONS.drainSeconds];
  const container = pod.spec?.containers[containerIndex];
  const grace = pod.spec?.terminationGracePeriodSeconds;
  const key = ANNOTATIONS.drainSeconds;
  if (raw !== undefined) {
    let seconds: number;
    try {
      seconds = parseDrainSeconds(raw);
    } catch (err) {
      return { seconds: 0, problems: [`annotation ${key}: ${(err as Error).message}`], warnings: [] };
    }
    if (seconds === 0) return { seconds: 0, problems: [], warnings: [] };
    if (container?.lifecycle?.preStop !== undefined) {
      return {
        seconds: 0,
        problems: [
          `annotation ${key}: container "${container.name}" already has a preStop hook; remove one of the two (set the annotation to 0 to keep your hook)`,
        ],
        warnings: [],
      };
    }
    if (grace !== undefined && grace < seconds + STOP_SECONDS_MIN) {
      return {
        seconds: 0,
        problems: [
          `annotation ${key}: a drain of ${seconds} s leaves HAProxy less than ${STOP_SECONDS_MIN} s to stop within terminationGracePeriodSeconds ${grace}; raise terminationGracePeriodSeconds to at least ${seconds + STOP_SECONDS_MIN} or lower the annotation`,
        ],
        warnings: [],
      };
    }
    return { seconds, problems: [], warnings: [] };
  }
  if (container?.lifecycle?.preStop !== undefined) {
    return {
      seconds: 0,
      problems: [],
      warnings: [
        `container "${container.name}" has its own preStop hook: haproxy-peer-sync adds no drain (annotation ${key})`,
      ],
    };
  }
  const fits = grace === undefined ? defaultSeconds : Math.min(defaultSeconds, Math.max(0, grace - STOP_SECONDS_MIN));
  const warnings =
    fits < defaultSeconds
      ? [
          `terminationGracePeriodSeconds ${grace} leaves room for a drain of ${fits} s only, not the default ${defaultSeconds} s (annotation ${key})`,
        ]
      : [];
  return { seconds: fits, problems: [], warnings };
}

/** The container's lifecycle with the drain's preStop sleep added (the sleep action: no binary needed in the image). */
export function withDrain(lifecycle: V1Lifecycle | undefined, seconds: number): V1Lifecycle | undefined {
  if (seconds === 0) return lifecycle;
  return { ...lifecycle, preStop: { sleep: { seconds } } };
}
