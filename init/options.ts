/** Flags of `haproxy-peer-sync init`; the webhook fills them through the environment variables. */
import { option, parse, parseOptions } from '../common/config.ts';
import { podOptions } from '../common/pod-options.ts';
import { ConfigError } from '../common/errors.ts';
import { LOG_LEVELS } from '../common/logger.ts';
import { CONTRACT_DEFAULTS, dataplaneapiUrl, ENV, SYNC_MODES, type SyncMode } from '../common/contract.ts';
import type { LevelWithSilent } from 'pino';

/** Where the Data Plane API's images put it (haproxytech/haproxy-*); the webhook's annotation overrides it. */
export const DATAPLANEAPI_BINARY = '/usr/local/bin/dataplaneapi';

/** Every flag of the init role, each with its environment variable (the webhook sets them). */
export const initOptions = {
  ...podOptions,
  mode: option<SyncMode>({
    flag: 'mode',
    env: ENV.mode,
    description:
      'direct (no Data Plane API: nothing but the peers file) or dataplaneapi (also its credentials and configuration)',
    parse: parse.oneOf(...SYNC_MODES),
    defaultValue: CONTRACT_DEFAULTS.mode,
  }),
  dataplaneapiUrl: option({
    flag: 'dataplaneapi-url',
    env: ENV.dataplaneapiUrl,
    description:
      'where the Data Plane API listens, as the syncer reaches it (mode dataplaneapi: its host and port go into its configuration)',
    parse: parse.url,
    defaultValue: new URL(dataplaneapiUrl()),
  }),
  dataplaneapiBinary: option({
    flag: 'dataplaneapi-binary',
    env: ENV.dataplaneapiBinary,
    description:
      "the Data Plane API executable in the HAProxy image, started by HAProxy's program section (mode dataplaneapi)",
    parse: parse.haproxyPath,
    defaultValue: DATAPLANEAPI_BINARY,
  }),
  logLevel: option<LevelWithSilent>({
    flag: 'log-level',
    description: 'log level',
    parse: parse.oneOf(...LOG_LEVELS),
    defaultValue: 'info',
  }),
};

export const INIT_USAGE = `usage: haproxy-peer-sync init [flags]

Writes, if absent, the first peers file into the shared volume. In mode dataplaneapi it also writes a
new Data Plane API password (0600), the userlist and program section HAProxy loads to start the API,
and the API's own configuration. That mode is not exercised against a live Data Plane API by this
project's tests: the API cannot be obtained on the machines that run them (README, "The HAProxy Data
Plane API").`;

/** The init role's resolved configuration. */
export interface InitConfig {
  readonly podName: string;
  readonly podIp: string;
  readonly peersSection: string;
  readonly peerPort: number;
  readonly runtimeDir: string;
  readonly mode: SyncMode;
  readonly dataplaneapiUrl: URL;
  readonly dataplaneapiBinary: string;
  readonly logLevel: LevelWithSilent;
}

/** Flags and environment → the init configuration, frozen; throws ConfigError listing every problem. */
export function loadInitConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): InitConfig {
  const v = parseOptions(initOptions, argv, env);
  // The API serves plain HTTP inside the pod; its host and port are written into its configuration.
  if (v.mode === 'dataplaneapi' && v.dataplaneapiUrl.protocol !== 'http:') {
    throw new ConfigError([
      `--dataplaneapi-url (from ${ENV.dataplaneapiUrl}): "${v.dataplaneapiUrl.href}" is not an http:// URL; the Data Plane API listens on plain HTTP inside the pod`,
    ]);
  }
  return Object.freeze({
    podName: v.podName,
    podIp: v.podIp,
    peersSection: v.peersSection,
    peerPort: v.peerPort,
    runtimeDir: v.runtimeDir,
    mode: v.mode,
    dataplaneapiUrl: v.dataplaneapiUrl,
    dataplaneapiBinary: v.dataplaneapiBinary,
    logLevel: v.logLevel,
  });
}
