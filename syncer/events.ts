/**
 * Which of the reconciler's outcomes become a Kubernetes Event on the syncer's own pod, so that
 * `kubectl describe pod` shows them: a reload HAProxy rejected or never confirmed, an HAProxy version
 * the syncer refuses, a replica whose resync ended without a teacher (un-Ready until HAProxy restarts).
 * Pure; common/events.ts posts them (rate-limited, fire and forget).
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { ERRORS, RELOAD_FAILURE_CODES } from '../common/errors.ts';
import type { EventReport } from '../common/events.ts';
import type { ReconcileOutcome } from './reconciler.ts';

/** The reasons the syncer reports (README "Events"), all of type Warning. */
export const SYNCER_EVENT_REASONS = {
  reloadFailed: 'ReloadFailed',
  unsupportedHaproxy: 'UnsupportedHaproxyVersion',
  resyncTimedOut: 'ResyncTimedOut',
} as const;

/** `reportingController` of the syncer's Events. */
export const SYNCER_EVENT_CONTROLLER = 'haproxy-peer-sync.io/syncer';

/** The Event an outcome calls for, without its subject; undefined for outcomes that are not an operator's business. */
export function syncerEvent(outcome: ReconcileOutcome): Omit<EventReport, 'subject'> | undefined {
  if (outcome.kind === 'untaught') {
    return {
      reason: SYNCER_EVENT_REASONS.resyncTimedOut,
      type: 'Warning',
      action: 'Resync',
      note: `Un-Ready until HAProxy restarts (delete the pod): ${outcome.reason}`,
    };
  }
  if (outcome.kind !== 'error') return undefined;
  if (RELOAD_FAILURE_CODES.has(outcome.code)) {
    return {
      reason: SYNCER_EVENT_REASONS.reloadFailed,
      type: 'Warning',
      action: 'Reload',
      note: `${outcome.code}: ${outcome.message}`,
    };
  }
  if (outcome.code === ERRORS.HPS_HAPROXY_VERSION.code) {
    return {
      reason: SYNCER_EVENT_REASONS.unsupportedHaproxy,
      type: 'Warning',
      action: 'Reconcile',
      note: outcome.message,
    };
  }
  return undefined;
}

/**
 * This pod's UID, from its own endpoint's `targetRef` in the Service's EndpointSlices (which the syncer
 * watches already): `kubectl describe pod` lists only Events that carry it, and reading it there needs
 * no permission on pods. Undefined until the pod has an endpoint.
 */
export function podUid(slices: readonly V1EndpointSlice[] | undefined, podName: string): string | undefined {
  for (const slice of slices ?? []) {
    for (const e of slice.endpoints ?? []) {
      if (e.targetRef?.kind === 'Pod' && e.targetRef.name === podName && e.targetRef.uid !== undefined)
        return e.targetRef.uid;
    }
  }
  return undefined;
}
