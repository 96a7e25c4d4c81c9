/** Flags of `haproxy-peer-sync init`; the webhook fills them through the environment variables. */
import { option, parse, parseOptions } from '../common/config.ts';
import { LOG_LEVELS } from '../common/logger.ts';
import { CONTRACT_DEFAULTS, ENV, RUNTIME_DIR } from '../common/contract.ts';
import type { LevelWithSilent } from 'pino';

/** Every flag of the init role, each with its environment variable (the webhook sets them). */
export const initOptions = {
  podName: option({ flag: 'pod-name', env: ENV.podName, description: 'this pod\'s name: the local peer name', parse: parse.haproxyName, required: true }),
  podIp: option({ flag: 'pod-ip', env: ENV.podIp, description: 'this pod\'s IP: the local peer address', parse: parse.ipAddress, required: true }),
  peersSection: option({ flag: 'peers-section', env: ENV.peersSection, description: 'name of the HAProxy peers section', parse: parse.haproxyName, defaultValue: CONTRACT_DEFAULTS.peersSection }),
  peerPort: option({ flag: 'peer-port', env: ENV.peerPort, description: 'port every peer listens on', parse: parse.port, defaultValue: CONTRACT_DEFAULTS.peerPort }),
  runtimeDir: option({ flag: 'runtime-dir', env: ENV.runtimeDir, description: 'the shared volume', parse: parse.haproxyPath, defaultValue: RUNTIME_DIR }),
  logLevel: option<LevelWithSilent>({ flag: 'log-level', env: 'HPS_LOG_LEVEL', description: 'log level', parse: parse.oneOf(...LOG_LEVELS), defaultValue: 'info' }),
};

export const INIT_USAGE = 'usage: haproxy-peer-sync init [flags]\n\nWrites the Data Plane API credentials (0600) and, if absent, the first peers file into the shared volume.';



/** The init role's resolved configuration. */
export interface InitConfig {
  readonly podName: string;
  readonly podIp: string;
  readonly peersSection: string;
  readonly peerPort: number;
  readonly runtimeDir: string;
  readonly logLevel: LevelWithSilent;
}

/** Flags and environment → the init configuration, frozen; throws ConfigError listing every problem. */
export function loadInitConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): InitConfig {
  const v = parseOptions(initOptions, argv, env);
  return Object.freeze({
    podName: v.podName,
    podIp: v.podIp,
    peersSection: v.peersSection,
    peerPort: v.peerPort,
    runtimeDir: v.runtimeDir,
    logLevel: v.logLevel,
  });
}
