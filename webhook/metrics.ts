/**
 * The webhook's Prometheus metrics, on a registry of their own (one per server, so tests can build
 * several). Every name of ours starts with `haproxy_peer_sync_webhook_` (the syncer's with
 * `haproxy_peer_sync_syncer_`), with units in the name and `_total` on counters:
 * https://prometheus.io/docs/practices/naming/. prom-client's default metrics keep their standard
 * names (`process_*`, `nodejs_*`). The README's metrics table lists them all, and
 * test/metrics-vocabulary.test.ts fails when the two differ.
 *
 * A label value is never taken unchecked from a request: each new value is a new series kept for the
 * life of the process, so a caller choosing values could grow the webhook's memory without bound.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { countedCodes, isErrorCode } from '../common/errors.ts';

export const WEBHOOK_PREFIX = 'haproxy_peer_sync_webhook_';

/** A counter whose label values are mapped to a fixed set before they become a series. */
export interface BoundedCounter<L extends string> {
  inc(labels: Readonly<Record<L, string>>): void;
}

export interface WebhookMetrics {
  readonly registry: Registry;
  /** By the request's `operation`, mapped by `operationLabel` (`invalid`: the review could not be decoded). */
  readonly requests: BoundedCounter<'operation'>;
  readonly injected: Counter;
  readonly skipped: Counter<'reason'>;
  readonly denied: Counter;
  /** Requests answered with an HTTP error, by our error code (mapped by `errorCodeLabel`). */
  readonly failed: BoundedCounter<'code'>;
  readonly duration: Histogram<'outcome'>;
}

/** The operations of admission.k8s.io/v1, and `invalid` for a review that could not be decoded. */
const OPERATIONS: ReadonlySet<string> = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'invalid']);

/**
 * The label value for an AdmissionReview's `request.operation`: one of `OPERATIONS`, else `other`.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
 */
export function operationLabel(operation: string): string {
  return OPERATIONS.has(operation) ? operation : 'other';
}

/**
 * The label value for an error code: one of the catalogue's (common/errors.ts, a fixed set) as it is;
 * any other (a library's code on an unexpected 500) `other` — the log has the error itself.
 */
export function errorCodeLabel(code: string): string {
  return isErrorCode(code) ? code : 'other';
}

/** Creates the counters and the latency histogram; `defaults` (on unless false) adds prom-client's process metrics. */
export function createMetrics(opts: { defaults?: boolean } = {}): WebhookMetrics {
  const registry = new Registry();
  // The event-loop delay sampled every 100 ms rather than Node's 10 ms: 0.7 instead of 7 ms of CPU per
  // second, measured idle (as the syncer's, syncer/prometheus.ts).
  if (opts.defaults ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  const p = WEBHOOK_PREFIX;
  const registers = [registry];
  const requests = new Counter({
    name: `${p}admission_requests_total`,
    help: 'AdmissionReview requests received, by operation (CREATE, UPDATE, DELETE, CONNECT, other; "invalid": not decoded)',
    labelNames: ['operation'],
    registers,
  });
  const errors = new Counter({
    name: `${p}errors_total`,
    help: 'Requests answered with an HTTP error, by error code',
    labelNames: ['code'],
    registers,
  });
  // Every code the webhook answers with starts at 0: an alert on `increase(…[10m]) > 0` sees the first one.
  for (const code of countedCodes('webhook')) errors.inc({ code }, 0);
  return {
    registry,
    requests: {
      inc: ({ operation }) => {
        requests.inc({ operation: operationLabel(operation) });
      },
    },
    injected: new Counter({ name: `${p}injected_total`, help: 'Pods injected', registers }),
    skipped: new Counter({
      name: `${p}skipped_total`,
      help: 'Requests allowed unchanged, by reason',
      labelNames: ['reason'],
      registers,
    }),
    denied: new Counter({
      name: `${p}denied_total`,
      help: 'Pods denied because an annotation or the pod spec is invalid',
      registers,
    }),
    failed: {
      inc: ({ code }) => {
        errors.inc({ code: errorCodeLabel(code) });
      },
    },
    duration: new Histogram({
      name: `${p}admission_duration_seconds`,
      help: 'Time to answer an AdmissionReview, by outcome (injected, skipped, denied)',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}
