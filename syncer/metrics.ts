/**
 * The syncer's Prometheus metrics, on a registry of their own (no global state, so tests can build
 * several). https://prometheus.io/docs/practices/naming/
 */
import { Counter, Gauge, Histogram, Registry, registerProcessMetrics } from './prometheus.ts';

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
  };
}
