/**
 * The webhook's Prometheus metrics, on a registry of their own (one per server, so tests can build
 * several). Names follow https://prometheus.io/docs/practices/naming/.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface WebhookMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'operation'>;
  readonly injected: Counter;
  readonly skipped: Counter<'reason'>;
  readonly denied: Counter;
  readonly failed: Counter<'code'>;
  readonly duration: Histogram<'outcome'>;
}

/** Creates the counters and the latency histogram; `defaults` adds Node's process metrics too. */
export function createMetrics(opts: { defaults?: boolean } = {}): WebhookMetrics {
  const registry = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: registry });
  const prefix = 'haproxy_peer_sync_webhook_';
  const registers = [registry];
  return {
    registry,
    requests: new Counter({ name: `${prefix}admission_requests_total`, help: 'AdmissionReview requests received, by operation (decoded or not: "invalid")', labelNames: ['operation'], registers }),
    injected: new Counter({ name: `${prefix}injected_total`, help: 'Pods injected', registers }),
    skipped: new Counter({ name: `${prefix}skipped_total`, help: 'Requests allowed unchanged, by reason', labelNames: ['reason'], registers }),
    denied: new Counter({ name: `${prefix}denied_total`, help: 'Pods denied because an annotation or the pod spec is invalid', registers }),
    failed: new Counter({ name: `${prefix}failed_total`, help: 'Requests answered with an HTTP error, by error code', labelNames: ['code'], registers }),
    duration: new Histogram({
      name: `${prefix}admission_duration_seconds`, help: 'Time to answer an AdmissionReview, by outcome', labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers,
    }),
  };
}
