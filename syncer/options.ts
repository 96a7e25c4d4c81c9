/** Flags of `haproxy-peer-sync syncer`, each with its environment variable (the webhook sets those). */
import { option, parse, parseOptions } from '../common/config.ts';
import { podOptions } from '../common/pod-options.ts';
import { ConfigError } from '../common/errors.ts';
import { LOG_LEVELS } from '../common/logger.ts';
import { CONTRACT_DEFAULTS, dataplaneapiUrl, ENV, SYNC_MODES, type SyncMode } from '../common/contract.ts';
import type { LevelWithSilent } from 'pino';

export const SYNCER_USAGE = `usage: haproxy-peer-sync syncer [flags]

Sidecar: keeps this replica's HAProxy peers section equal to the live replica set (the ready and
starting endpoints of a headless Service), with one reload per change of the set.`;

export const syncerOptions = {
  service: option({
    flag: 'service',
    env: ENV.service,
    description: 'headless Service whose EndpointSlices list the replicas',
    parse: parse.dnsLabel,
    required: true,
  }),
  namespace: option({
    flag: 'namespace',
    env: ENV.namespace,
    description: `namespace of the Service (default: ${ENV.podNamespace})`,
    parse: parse.dnsLabel,
  }),
  ...podOptions,
  mode: option<SyncMode>({
    flag: 'mode',
    env: ENV.mode,
    description:
      "direct (peers file + master CLI reload; the default) or dataplaneapi (through the HAProxy Data Plane API that HAProxy starts from the program section init writes; this mode is not exercised against a live Data Plane API by this project's tests, because the API cannot be obtained where they run)",
    parse: parse.oneOf(...SYNC_MODES),
    defaultValue: CONTRACT_DEFAULTS.mode,
  }),
  dataplaneapiUrl: option({
    flag: 'dataplaneapi-url',
    env: ENV.dataplaneapiUrl,
    description: 'Data Plane API base URL (mode dataplaneapi)',
    parse: parse.url,
    defaultValue: new URL(dataplaneapiUrl()),
  }),
  credentialsFile: option({
    flag: 'credentials-file',
    env: ENV.credentialsFile,
    description:
      'file holding the Data Plane API password, written by init (mode dataplaneapi; never passed as a value)',
    parse: parse.absolutePath,
  }),
  coalesceWindow: option({
    flag: 'coalesce-window',
    description: 'quiet time after a change before reconciling (ms, or with a unit: 250ms, 1s)',
    parse: parse.durationMs,
    defaultValue: 200,
  }),
  coalesceMax: option({
    flag: 'coalesce-max',
    description: 'longest wait after the first change of a burst (ms, or with a unit)',
    parse: parse.durationMs,
    defaultValue: 1000,
  }),
  coalesceLeading: option({
    flag: 'coalesce-leading',
    description:
      'apply a change that finds the syncer idle (no change for --coalesce-max) at once; the changes that follow it are coalesced (true or false)',
    parse: parse.boolean,
    defaultValue: false,
  }),
  startupGateMax: option({
    flag: 'startup-gate-max',
    description: 'longest time /startupz waits for the ready replicas to declare this pod',
    parse: parse.durationMs,
    defaultValue: 30_000,
  }),
  healthPort: option({
    flag: 'health-port',
    env: ENV.healthPort,
    description: 'port of /healthz, /readyz and /metrics (0: any free port)',
    parse: parse.portOrZero,
    defaultValue: CONTRACT_DEFAULTS.healthPort,
  }),
  healthAddress: option({
    flag: 'health-address',
    description: 'address the health server binds',
    parse: parse.ipAddress,
    defaultValue: '0.0.0.0',
  }),
  logLevel: option<LevelWithSilent>({
    flag: 'log-level',
    description: 'log level',
    parse: parse.oneOf(...LOG_LEVELS),
    defaultValue: 'info',
  }),
  kubeconfig: option({
    flag: 'kubeconfig',
    description: 'kubeconfig file, certificate or token credentials (default: in-cluster service account)',
    parse: parse.absolutePath,
  }),
};

export interface SyncerConfig {
  readonly service: string;
  readonly namespace: string;
  readonly podName: string;
  readonly podIp: string;
  readonly peersSection: string;
  readonly peerPort: number;
  readonly runtimeDir: string;
  readonly mode: SyncMode;
  readonly dataplaneapiUrl: URL;
  readonly credentialsFile: string | undefined;
  readonly coalesceWindowMs: number;
  readonly coalesceMaxMs: number;
  readonly coalesceLeading: boolean;
  readonly startupGateMaxMs: number;
  readonly healthPort: number;
  readonly healthAddress: string;
  readonly logLevel: LevelWithSilent;
  readonly kubeconfig: string | undefined;
}

/**
 * Flags and environment → the frozen syncer configuration. Throws one ConfigError naming every bad or
 * missing flag; the namespace falls back to POD_NAMESPACE (downward API).
 */
export function loadSyncerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): SyncerConfig {
  const v = parseOptions(syncerOptions, argv, env); // every per-flag problem at once
  const problems: string[] = [];
  const podNamespace = env[ENV.podNamespace];
  const namespace =
    v.namespace ??
    (podNamespace
      ? tryParse(() => parse.dnsLabel(podNamespace), `--namespace (from ${ENV.podNamespace})`, problems)
      : undefined);
  if (namespace === undefined && problems.length === 0)
    problems.push(`--namespace is required (or set ${ENV.namespace} or ${ENV.podNamespace})`);
  if (v.mode === 'dataplaneapi' && v.credentialsFile === undefined)
    problems.push(`--credentials-file is required with --mode dataplaneapi (or set ${ENV.credentialsFile})`);
  if (v.coalesceMax < v.coalesceWindow) problems.push('--coalesce-max must not be shorter than --coalesce-window');
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    service: v.service,
    namespace: namespace ?? '',
    podName: v.podName,
    podIp: v.podIp,
    peersSection: v.peersSection,
    peerPort: v.peerPort,
    runtimeDir: v.runtimeDir,
    mode: v.mode,
    dataplaneapiUrl: v.dataplaneapiUrl,
    credentialsFile: v.credentialsFile,
    coalesceWindowMs: v.coalesceWindow,
    coalesceMaxMs: v.coalesceMax,
    coalesceLeading: v.coalesceLeading,
    startupGateMaxMs: v.startupGateMax,
    healthPort: v.healthPort,
    healthAddress: v.healthAddress,
    logLevel: v.logLevel,
    kubeconfig: v.kubeconfig,
  });
}

function tryParse<T>(fn: () => T, source: string, problems: string[]): T | undefined {
  try {
    return fn();
  } catch (err) {
    problems.push(`${source}: ${(err as Error).message}`);
    return undefined;
  }
}
