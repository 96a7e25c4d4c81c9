/**
 * The flags every role inside an injected pod reads the same way (init and syncer): who this pod is as
 * a peer, the peers section and port, and the shared volume. Declared once, so both parse, default and
 * describe them alike; each role spreads them into its own option table.
 */
import { option, parse } from './config.ts';
import { CONTRACT_DEFAULTS, ENV, RUNTIME_DIR, RUNTIME_FILES } from './contract.ts';

export const podOptions = {
  podName: option({
    flag: 'pod-name',
    env: ENV.podName,
    description: "this pod's name: the local peer name",
    parse: parse.haproxyName,
    required: true,
  }),
  podIp: option({
    flag: 'pod-ip',
    env: ENV.podIp,
    description: "this pod's IP: the local peer address",
    parse: parse.ipAddress,
    required: true,
  }),
  peersSection: option({
    flag: 'peers-section',
    env: ENV.peersSection,
    description: 'name of the HAProxy peers section',
    parse: parse.haproxyName,
    defaultValue: CONTRACT_DEFAULTS.peersSection,
  }),
  peerPort: option({
    flag: 'peer-port',
    env: ENV.peerPort,
    description: 'port every peer listens on',
    parse: parse.port,
    defaultValue: CONTRACT_DEFAULTS.peerPort,
  }),
  runtimeDir: option({
    flag: 'runtime-dir',
    env: ENV.runtimeDir,
    description: `shared volume: ${RUNTIME_FILES.peers}, ${RUNTIME_FILES.masterSocket}, ${RUNTIME_FILES.adminSocket}`,
    parse: parse.haproxyPath,
    defaultValue: RUNTIME_DIR,
  }),
};
