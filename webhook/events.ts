/**
 * A Warning Event `InjectionDenied` on the owner of a pod the webhook denied (its ReplicaSet,
 * StatefulSet, …, named by the pod's controller ownerReference), so that `kubectl describe` of the
 * workload says why its pods are not created. The pod itself never exists, so it cannot carry the Event;
 * a pod without an owner was created by someone who sees the denial directly, and gets none.
 *
 * The handler publishes each denial on a diagnostics channel (node:diagnostics_channel: nothing happens
 * without a subscriber, and the admission answer never waits); main.ts subscribes a poster
 * (common/events.ts: rate-limited per owner, fire and forget). No Event for a dry run: a dry run must
 * have no side effects.
 */
import { channel } from 'node:diagnostics_channel';
import { isNamespaceName, type EventPoster, type EventSubject } from '../common/events.ts';
import type { AdmissionRequest } from './review.ts';

/** What the handler publishes when it denies a pod. */
export interface DeniedMessage {
  readonly request: AdmissionRequest;
  readonly message: string;
}

/** The channel of denials (a name of ours, as undici's and fastify's channels are named). */
export const deniedChannel = channel('haproxy-peer-sync:webhook:denied');

/** `reportingController` of the webhook's Events. */
export const WEBHOOK_EVENT_CONTROLLER = 'haproxy-peer-sync.io/webhook';
export const INJECTION_DENIED = 'InjectionDenied';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The object to report a denial on: the pod's controller owner (`controller: true`) in the request's
 * namespace; undefined for a dry run, a pod without one, or fields that are not strings. The values come
 * from the request: the poster checks each against the form the API gives it before posting.
 */
export function deniedSubject(request: AdmissionRequest): EventSubject | undefined {
  if (request.dryRun === true || !isNamespaceName(request.namespace)) return undefined;
  const metadata = isObject(request.object) ? request.object['metadata'] : undefined;
  const owners = isObject(metadata) ? metadata['ownerReferences'] : undefined;
  if (!Array.isArray(owners)) return undefined;
  const owner: unknown = owners.find((o) => isObject(o) && o['controller'] === true);
  if (!isObject(owner)) return undefined;
  const { apiVersion, kind, name, uid } = owner;
  if (
    typeof apiVersion !== 'string' ||
    typeof kind !== 'string' ||
    typeof name !== 'string' ||
    (uid !== undefined && typeof uid !== 'string')
  )
    return undefined;
  return { apiVersion, kind, name, namespace: request.namespace, uid };
}

/** The Event's note: the denial as the apiserver returned it to the owner's controller. */
export function deniedNote(message: string): string {
  return `haproxy-peer-sync denied a pod of this workload: ${message}`;
}

/** Subscribes `post` to the denials; returns the unsubscribe function. */
export function reportDenials(post: EventPoster): () => void {
  const onDenied = (m: unknown): void => {
    const { request, message } = m as DeniedMessage;
    const subject = deniedSubject(request);
    if (subject !== undefined)
      post({ subject, reason: INJECTION_DENIED, type: 'Warning', action: 'Inject', note: deniedNote(message) });
  };
  deniedChannel.subscribe(onDenied);
  return () => {
    deniedChannel.unsubscribe(onDenied);
  };
}
