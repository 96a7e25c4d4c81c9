/**
 * The syncer's Prometheus metrics, on a registry of their own (no global state, so tests can build
 * several). https://prometheus.io/docs/practices/naming/
 */
import { Counter, Gauge, Histogram, InfoGauge, Registry, registerProcessMetrics } from './prometheus.ts';

export interface SyncerMetrics {
  readonly registry: Registry;
  readonly reconciles: Counter;
  readonly errors: Counter;
  readonly duration: Histogram;
  readonly desiredPeers: Gauge;
  readonly appliedPeers: Gauge;
  readonly reloads: Counter;
  readonly lastSuccess: Gauge;
  readonly ready: Gauge;
  /** `{version, branch, known}` of the running HAProxy. */
  readonly haproxy: InfoGauge;
  /** Present while the last reload was rejected: `{haproxy_version, message}` with HAProxy's own error lines. */
  readonly reloadFailure: InfoGauge;
}

/** Builds the metrics; `defaults` adds the process metrics (resident memory, CPU, event loop lag). */
export function createMetrics(defaults = true): SyncerMetrics {
  const registry = new Registry();
  if (defaults) registerProcessMetrics(registry, 'hps_syncer_');
  return {
    registry,
    reconciles: new Counter({ name: 'hps_syncer_reconciles_total', help: 'Reconcile passes, by result (success|error).', registry }),
    errors: new Counter({ name: 'hps_syncer_errors_total', help: 'Errors, by stable error code.', registry }),
    duration: new Histogram({
      name: 'hps_syncer_reconcile_duration_seconds', help: 'Duration of a reconcile pass (write, reload and its confirmation).', registry,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
    desiredPeers: new Gauge({ name: 'hps_syncer_desired_peers', help: 'Peers in the desired set (this pod included).', registry }),
    appliedPeers: new Gauge({ name: 'hps_syncer_applied_peers', help: 'Peers in HAProxy\'s live peers section (or the file, before HAProxy starts).', registry }),
    reloads: new Counter({ name: 'hps_syncer_reloads_total', help: 'HAProxy reloads requested, by result (succeeded|failed).', registry }),
    lastSuccess: new Gauge({ name: 'hps_syncer_last_success_timestamp_seconds', help: 'Unix time of the last successful reconcile.', registry }),
    ready: new Gauge({ name: 'hps_syncer_ready', help: '1 once the first reconcile succeeded and the tables were taught.', registry }),
    haproxy: new InfoGauge({ name: 'hps_syncer_haproxy_info', help: 'The running HAProxy\'s version (master CLI) and whether the syncer knows it (known="false": refused, un-Ready).', registry }),
    reloadFailure: new InfoGauge({
      name: 'hps_syncer_reload_failure_info', registry,
      help: 'Present while the last reload was rejected (the previous worker keeps serving); message = HAProxy\'s own error lines (3.0; 2.6 does not return them).',
    }),
  };
}
