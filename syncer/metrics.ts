/**
 * The syncer's Prometheus metrics, on a registry of their own (no global state, so tests can build
 * several). Every name starts with `haproxy_peer_sync_syncer_` (the webhook's with
 * `haproxy_peer_sync_webhook_`), with units in the name and `_total` on counters:
 * https://prometheus.io/docs/practices/naming/. The README's metrics table lists them, and
 * test/metrics-vocabulary.test.ts fails when the two differ.
 */
import { countedCodes } from '../common/errors.ts';
import { Counter, Gauge, Histogram, InfoGauge, Registry, registerProcessMetrics } from './prometheus.ts';

export const SYNCER_PREFIX = 'haproxy_peer_sync_syncer_';

export interface SyncerMetrics {
  readonly registry: Registry;
  readonly reconciles: Counter<'result'>;
  readonly errors: Counter<'code'>;
  readonly duration: Histogram;
  readonly desiredPeers: Gauge;
  readonly appliedPeers: Gauge;
  readonly reloads: Counter<'result'>;
  readonly lastSuccess: Gauge;
  readonly ready: Gauge;
  /** `{version, branch, known}` of the running HAProxy. */
  readonly haproxy: InfoGauge<'version' | 'branch' | 'known'>;
  /** Present while the last reload was rejected: `{haproxy_version, message}` with HAProxy's own error lines. */
  readonly reloadFailure: InfoGauge<'haproxy_version' | 'message'>;
}

/**
 * Builds the metrics; `defaults` adds the process metrics (resident memory, CPU, heap, event-loop
 * delay). The result counters start at 0 for every result, and errors_total at 0 for every code of the
 * catalogue the syncer counts (common/errors.ts), so an alert on the first failed reload or the first
 * error of a kind (`increase(…{result="failed"}[10m]) > 0`) sees it: a series born at 1 has no increase.
 */
export function createMetrics(defaults = true): SyncerMetrics {
  const registry = new Registry();
  if (defaults) registerProcessMetrics(registry);
  const p = SYNCER_PREFIX;
  const metrics: SyncerMetrics = {
    registry,
    reconciles: new Counter({
      name: `${p}reconciles_total`,
      help: 'Reconcile passes, by result (success|error).',
      labelNames: ['result'],
      registry,
    }),
    errors: new Counter({
      name: `${p}errors_total`,
      help: 'Errors, by stable error code.',
      labelNames: ['code'],
      registry,
    }),
    duration: new Histogram({
      name: `${p}reconcile_duration_seconds`,
      help: 'Duration of a reconcile pass (write, reload and its confirmation).',
      registry,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
    desiredPeers: new Gauge({
      name: `${p}desired_peers`,
      help: 'Peers in the desired set (this pod included).',
      registry,
    }),
    appliedPeers: new Gauge({
      name: `${p}applied_peers`,
      help: "Peers in HAProxy's live peers section (or the file, before HAProxy starts).",
      registry,
    }),
    reloads: new Counter({
      name: `${p}reloads_total`,
      help: 'HAProxy reloads requested, by result (succeeded|failed).',
      labelNames: ['result'],
      registry,
    }),
    lastSuccess: new Gauge({
      name: `${p}last_success_timestamp_seconds`,
      help: 'Unix time of the last successful reconcile.',
      registry,
    }),
    ready: new Gauge({
      name: `${p}ready`,
      help: '1 once the first reconcile succeeded and the tables were taught.',
      registry,
    }),
    haproxy: new InfoGauge({
      name: `${p}haproxy_info`,
      labelNames: ['version', 'branch', 'known'],
      registry,
      help: 'The running HAProxy\'s version (master CLI) and whether the syncer knows it (known="false": refused, un-Ready).',
    }),
    reloadFailure: new InfoGauge({
      name: `${p}reload_failure_info`,
      labelNames: ['haproxy_version', 'message'],
      registry,
      help: "Present while the last reload was rejected (the previous worker keeps serving); message = HAProxy's own error lines (3.0; 2.6 does not return them).",
    }),
  };
  for (const result of ['success', 'error']) metrics.reconciles.inc({ result }, 0);
  for (const result of ['succeeded', 'failed']) metrics.reloads.inc({ result }, 0);
  for (const code of countedCodes('syncer')) metrics.errors.inc({ code }, 0);
  return metrics;
}
