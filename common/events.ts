/**
 * Kubernetes Events (events.k8s.io/v1) for what an operator must see in `kubectl describe`: both roles
 * post them, each on the object the problem belongs to (the syncer on its own pod, the webhook on the
 * owner of a pod it denied). Posting is fire and forget: an Event that cannot be posted is logged, never
 * retried and never fails the caller; a limiter lets one Event per object and reason through per
 * interval, so a failure that repeats every few seconds is no Event storm.
 *
 * Everything that goes into an Event is bounded: the note is stripped of control characters and clipped
 * to the API's 1 kB, names must be Kubernetes names (the caller's values may come from a request).
 * https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/
 */
import type { Logger } from './logger.ts';
import { requestJson, type KubeAccess } from './kube-client.ts';

/** The object an Event is about, as `regarding` names it. */
export interface EventSubject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** Needed for `kubectl describe` to list the Event (it selects on the uid); optional otherwise. */
  readonly uid?: string | undefined;
}

/** What to report. `reason` is a fixed CamelCase word of ours, never text from a request. */
export interface EventReport {
  readonly subject: EventSubject;
  readonly reason: string;
  readonly type: 'Normal' | 'Warning';
  /** What the reporter did or tried, e.g. `Reload` (required by events.k8s.io/v1). */
  readonly action: string;
  readonly note: string;
}

/** The API's limits (k8s.io/kubernetes pkg/apis/core/validation/events.go). */
export const NOTE_MAX_BYTES = 1024;
const NAME_MAX = 253;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const KIND = /^[A-Za-z][A-Za-z0-9]{0,62}$/;
const API_VERSION = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/;
const UID = /^[A-Za-z0-9-]{1,64}$/;

/** A Kubernetes object name (DNS subdomain), as pods, ReplicaSets and Events are named. */
export function isObjectName(s: unknown): s is string {
  return typeof s === 'string' && s.length <= NAME_MAX && DNS_SUBDOMAIN.test(s);
}

/** A namespace name (DNS label). */
export function isNamespaceName(s: unknown): s is string {
  return typeof s === 'string' && DNS_LABEL.test(s);
}

/** Whether every field of a subject is of the form the API accepts (so nothing odd is echoed into an Event). */
export function isValidSubject(s: EventSubject): boolean {
  return (
    API_VERSION.test(s.apiVersion) &&
    KIND.test(s.kind) &&
    isNamespaceName(s.namespace) &&
    isObjectName(s.name) &&
    (s.uid === undefined || UID.test(s.uid))
  );
}

/**
 * Text for an Event's note or a terminal: control characters (C0, DEL, C1, and the bidi overrides that
 * could reorder what a reader sees) become spaces, runs of whitespace one space, and the result is
 * clipped to `maxBytes` of UTF-8 without splitting a character, with `…` when clipped.
 */
export function cleanText(text: string, maxBytes: number = NOTE_MAX_BYTES): string {
  const flat = text
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (Buffer.byteLength(flat) <= maxBytes) return flat;
  let out = '';
  let bytes = 0;
  const budget = maxBytes - Buffer.byteLength('…');
  for (const ch of flat) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > budget) break;
    out += ch;
    bytes += n;
  }
  return `${out}…`;
}

/** events.k8s.io/v1 `eventTime` is a MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * The Event object for a report (pure). Its name is the subject's plus the time in hex, as client-go
 * names Events; `reportingController` and `reportingInstance` say which component and which process.
 */
export function eventObject(
  report: EventReport,
  reporter: { controller: string; instance: string },
  at: Date,
): Record<string, unknown> {
  const { subject } = report;
  const suffix = `.${(BigInt(at.getTime()) * 1_000_000n).toString(16)}`;
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: {
      name: `${subject.name.slice(0, NAME_MAX - suffix.length).replace(/[.-]+$/, '')}${suffix}`,
      namespace: subject.namespace,
    },
    eventTime: microTime(at),
    reportingController: reporter.controller,
    reportingInstance: cleanText(reporter.instance, 128),
    action: report.action,
    reason: report.reason,
    type: report.type,
    note: cleanText(report.note),
    regarding: {
      apiVersion: subject.apiVersion,
      kind: subject.kind,
      namespace: subject.namespace,
      name: subject.name,
      ...(subject.uid === undefined ? {} : { uid: subject.uid }),
    },
  };
}

/**
 * One Event per key (object and reason) per `intervalMs`; remembers at most `maxKeys` keys, forgetting
 * the oldest first, so a caller that names many objects (the webhook) holds bounded memory. Pure: the
 * clock is passed in.
 */
export class EventLimiter {
  readonly #last = new Map<string, number>();
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;

  constructor(opts: { intervalMs: number; maxKeys?: number; now: () => number }) {
    this.#intervalMs = opts.intervalMs;
    this.#maxKeys = opts.maxKeys ?? 1000;
    this.#now = opts.now;
  }

  /** True when an Event for `key` may be posted now (and counts it as posted). */
  allow(key: string): boolean {
    const now = this.#now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last < this.#intervalMs) return false;
    this.#last.delete(key); // re-inserted last: the map's order is the age order
    this.#last.set(key, now);
    while (this.#last.size > this.#maxKeys) {
      const oldest = this.#last.keys().next().value;
      if (oldest === undefined) break;
      this.#last.delete(oldest);
    }
    return true;
  }
}

/** A repeated Event per object and reason at most this often (client-go's spam filter refills at 1 per 5 minutes too). */
export const EVENT_INTERVAL_MS = 5 * 60_000;

export interface EventPosterOptions {
  /** Resolved when an Event is due (the webhook reads its credentials lazily). */
  readonly access: () => Promise<KubeAccess>;
  readonly log: Logger;
  /** `reportingController`, a qualified name, e.g. `haproxy-peer-sync.io/syncer`. */
  readonly controller: string;
  /** `reportingInstance`: this process (its pod's name). */
  readonly instance: string;
  readonly limiter: EventLimiter;
  readonly now?: () => Date;
  /** Default 5 s: an Event is worth little once the moment has passed, and nothing waits for it. */
  readonly timeoutMs?: number;
}

/** Posts Events, fire and forget. Returns whether the report was sent (not rate-limited nor invalid). */
export type EventPoster = (report: EventReport) => boolean;

/**
 * A poster: drops a report whose subject is not a valid Kubernetes reference, rate-limits the rest, and
 * POSTs each to its namespace's events without awaiting; a failure is one log line (the Event is lost).
 * RBAC: `create` on `events` in the `events.k8s.io` group.
 */
export function eventPoster(opts: EventPosterOptions): EventPoster {
  const now = opts.now ?? ((): Date => new Date());
  return (report) => {
    const { subject } = report;
    if (!isValidSubject(subject)) {
      opts.log.debug({ reason: report.reason }, 'no Event: its subject is not a valid Kubernetes reference');
      return false;
    }
    if (!opts.limiter.allow(`${subject.namespace}/${subject.kind}/${subject.uid ?? subject.name}/${report.reason}`))
      return false;
    const body = eventObject(report, { controller: opts.controller, instance: opts.instance }, now());
    const path = `/apis/events.k8s.io/v1/namespaces/${subject.namespace}/events`;
    void opts
      .access()
      .then((access) =>
        requestJson(access, 'POST', path, { body, signal: AbortSignal.timeout(opts.timeoutMs ?? 5000) }),
      )
      .then(
        () => {
          opts.log.debug({ reason: report.reason, kind: subject.kind, name: subject.name }, 'Event posted');
        },
        (err: unknown) => {
          opts.log.warn(
            { err, reason: report.reason, kind: subject.kind, name: subject.name },
            'could not post a Kubernetes Event',
          );
        },
      );
    return true;
  };
}
