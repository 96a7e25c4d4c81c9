/**
 * Flags of `haproxy-peer-sync webhook`. Certificates come either from files (--tls-cert/--tls-key, e.g.
 * a cert-manager Secret mounted into the pod) or are generated and shared through one Secret
 * (--secret-name with --service-name); --webhook-config-name turns on the caBundle sync.
 */
import { option, parse, parseOptions } from '../common/config.ts';
import { ConfigError } from '../common/errors.ts';
import { LOG_LEVELS } from '../common/logger.ts';
import type { LevelWithSilent } from 'pino';
import { DEFAULTS, type SidecarMode } from './annotations.ts';
import { parseDrainSeconds } from './drain.ts';
import { CONTRACT_DEFAULTS } from '../common/contract.ts';
import { serviceDnsNames } from '../certs/generate.ts';

const quantity = (raw: string): string => {
  if (!/^\d+(\.\d+)?(m|k|M|G|Ki|Mi|Gi)?$/.test(raw))
    throw new Error(`"${raw}" is not a Kubernetes quantity (e.g. 10m, 64Mi)`);
  return raw;
};
const hostList = (raw: string): string[] =>
  raw
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
const path = (raw: string): string => {
  if (!raw.startsWith('/')) throw new Error(`"${raw}" is not an absolute path`);
  return raw;
};

/** Every flag of the webhook role, each with its HPS_* environment variable (see --help). */
export const webhookOptions = {
  listen: option({
    flag: 'listen',
    description: 'address to listen on',
    parse: parse.string,
    defaultValue: '0.0.0.0',
  }),
  port: option({
    flag: 'port',
    description: 'HTTPS port (/mutate, /healthz, /readyz, /metrics)',
    parse: parse.portOrZero,
    defaultValue: 8443,
  }),
  tlsCert: option({
    flag: 'tls-cert',
    description: 'serving certificate file (with --tls-key); polled for rotation',
    parse: path,
  }),
  tlsKey: option({ flag: 'tls-key', description: 'serving key file', parse: path }),
  tlsCa: option({
    flag: 'tls-ca',
    description: 'CA bundle file for the caBundle sync (default: the certificate)',
    parse: path,
  }),
  certPoll: option({
    flag: 'cert-poll',
    description: 'how often to re-read certificate files or the Secret',
    parse: parse.durationMs,
    defaultValue: 60_000,
  }),
  secretName: option({
    flag: 'secret-name',
    description: 'Secret holding the self-generated CA and serving pair, shared by every replica',
    parse: parse.dnsLabel,
  }),
  secretNamespace: option({
    flag: 'secret-namespace',
    description: 'namespace of that Secret (default: POD_NAMESPACE)',
    parse: parse.dnsLabel,
  }),
  serviceName: option({
    flag: 'service-name',
    description: "the webhook's Service: the certificate covers <svc>.<ns>.svc and its other DNS forms",
    parse: parse.dnsLabel,
  }),
  extraHosts: option({
    flag: 'extra-hosts',
    description: 'more DNS names or IPs for the certificate, comma-separated',
    parse: hostList,
    defaultValue: [] as string[],
  }),
  webhookConfigName: option({
    flag: 'webhook-config-name',
    description: "MutatingWebhookConfiguration whose caBundle is kept in sync (omit with cert-manager's CA injector)",
    parse: parse.string,
  }),
  caBundleInterval: option({
    flag: 'ca-bundle-interval',
    description: 'how often to check that caBundle was not overwritten',
    parse: parse.durationMs,
    defaultValue: 30_000,
  }),
  image: option({
    flag: 'image',
    description: 'image of the injected syncer and init containers',
    parse: parse.string,
  }),
  imagePullPolicy: option({
    flag: 'image-pull-policy',
    description: "their imagePullPolicy (default: the cluster's default)",
    parse: parse.oneOf('Always', 'IfNotPresent', 'Never'),
  }),
  sidecarMode: option<SidecarMode>({
    flag: 'sidecar-mode',
    description: 'native (initContainer with restartPolicy Always, Kubernetes 1.29+) or regular',
    parse: parse.oneOf('native', 'regular'),
    defaultValue: 'native',
  }),
  cpuRequest: option({
    flag: 'cpu-request',
    description: 'CPU request of injected containers',
    parse: quantity,
    defaultValue: '10m',
  }),
  memoryRequest: option({
    flag: 'memory-request',
    description: 'memory request of injected containers',
    parse: quantity,
    defaultValue: '32Mi',
  }),
  cpuLimit: option({
    flag: 'cpu-limit',
    description: 'CPU limit of injected containers',
    parse: quantity,
    defaultValue: '200m',
  }),
  memoryLimit: option({
    flag: 'memory-limit',
    description: 'memory limit of injected containers',
    parse: quantity,
    defaultValue: '128Mi',
  }),
  drainSeconds: option({
    flag: 'drain-seconds',
    description: `seconds an injected HAProxy keeps serving after its pod is deleted (a preStop sleep), unless the pod's annotation says otherwise; 0: none`,
    parse: parseDrainSeconds,
    defaultValue: DEFAULTS.drainSeconds,
  }),
  syncerHealthPort: option({
    flag: 'syncer-health-port',
    description: 'health port given to the injected syncer',
    parse: parse.port,
    defaultValue: CONTRACT_DEFAULTS.healthPort,
  }),
  accessCheck: option({
    flag: 'access-check',
    description: "warn when a pod's ServiceAccount may not watch EndpointSlices (SubjectAccessReview)",
    parse: parse.boolean,
    defaultValue: true,
  }),
  accessCacheTtl: option({
    flag: 'access-cache-ttl',
    description: 'how long such an answer is cached',
    parse: parse.durationMs,
    defaultValue: 300_000,
  }),
  logLevel: option<LevelWithSilent>({
    flag: 'log-level',
    description: 'log level',
    parse: parse.oneOf(...LOG_LEVELS),
    defaultValue: 'info',
  }),
};

export const WEBHOOK_USAGE =
  'usage: haproxy-peer-sync webhook [flags]\n\nMutating admission webhook: injects the syncer, its init container and the shared volume into pods labelled haproxy-peer-sync.io/inject=true.';

/** Where the serving key pair comes from. */
export type CertSource =
  | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string; readonly caFile: string | undefined }
  | { readonly kind: 'secret'; readonly name: string; readonly namespace: string; readonly hosts: readonly string[] };

/** The webhook's resolved configuration (loadWebhookConfig). */
export interface WebhookConfig {
  readonly listen: string;
  readonly port: number;
  readonly certs: CertSource;
  readonly certPollMs: number;
  readonly webhookConfigName: string | undefined;
  readonly caBundleIntervalMs: number;
  readonly image: string;
  readonly imagePullPolicy: string | undefined;
  readonly sidecarMode: SidecarMode;
  readonly resources: { readonly requests: Record<string, string>; readonly limits: Record<string, string> };
  readonly drainSeconds: number;
  readonly syncerHealthPort: number;
  readonly accessCheck: boolean;
  readonly accessCacheTtlMs: number;
  readonly logLevel: LevelWithSilent;
}

/**
 * Flags + environment → the webhook configuration, frozen. Throws one ConfigError listing every
 * problem, including the cross-flag ones (exactly one certificate source).
 */
export function loadWebhookConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  version: string,
): WebhookConfig {
  const v = parseOptions(webhookOptions, argv, env);
  const problems: string[] = [];
  let certs: CertSource | undefined;
  const files = v.tlsCert !== undefined || v.tlsKey !== undefined;
  const secret = v.secretName !== undefined;
  if (files && secret) problems.push('use either --tls-cert/--tls-key or --secret-name, not both');
  else if (files) {
    if (v.tlsCert === undefined || v.tlsKey === undefined) problems.push('--tls-cert and --tls-key go together');
    else certs = { kind: 'files', certFile: v.tlsCert, keyFile: v.tlsKey, caFile: v.tlsCa };
  } else if (secret) {
    const namespace = v.secretNamespace ?? env['POD_NAMESPACE'];
    if (namespace === undefined || namespace === '')
      problems.push('--secret-namespace is required with --secret-name (or set POD_NAMESPACE)');
    if (v.serviceName === undefined)
      problems.push('--service-name is required with --secret-name: the certificate is issued for that Service');
    if (namespace !== undefined && namespace !== '' && v.serviceName !== undefined && v.secretName !== undefined) {
      certs = {
        kind: 'secret',
        name: v.secretName,
        namespace,
        hosts: [...serviceDnsNames(v.serviceName, namespace), ...v.extraHosts],
      };
    }
  } else {
    problems.push(
      'choose a certificate source: --tls-cert and --tls-key (files, e.g. from cert-manager), or --secret-name and --service-name (self-generated)',
    );
  }
  if (problems.length > 0 || certs === undefined) throw new ConfigError(problems);
  return Object.freeze({
    listen: v.listen,
    port: v.port,
    certs,
    certPollMs: v.certPoll,
    webhookConfigName: v.webhookConfigName,
    caBundleIntervalMs: v.caBundleInterval,
    image: v.image ?? `ghcr.io/haproxy-peer-sync/haproxy-peer-sync:${version}`,
    imagePullPolicy: v.imagePullPolicy,
    sidecarMode: v.sidecarMode,
    resources: {
      requests: { cpu: v.cpuRequest, memory: v.memoryRequest },
      limits: { cpu: v.cpuLimit, memory: v.memoryLimit },
    },
    drainSeconds: v.drainSeconds,
    syncerHealthPort: v.syncerHealthPort,
    accessCheck: v.accessCheck,
    accessCacheTtlMs: v.accessCacheTtl,
    logLevel: v.logLevel,
  });
}
