/**
 * The pod contract: what the webhook, the init container, the syncer and HAProxy agree on inside an
 * injected pod — the shared directory and the files in it, the defaults every role starts from, the
 * group that owns the master socket, and the environment variables the webhook fills for the
 * containers it adds. One place, so no role can drift from the others; docs/design.md ("Inside an
 * injected pod") describes the same table in words. Pure data.
 */

/** Where the shared emptyDir is mounted in every container that uses it (HAProxy, init, syncer). */
export const RUNTIME_DIR = '/var/run/haproxy-peer-sync';

/** The first line of every peers file we write (syncer/peers.ts, and the init container's script). */
export const PEERS_FILE_HEADER =
  '# Written by haproxy-peer-sync: rewritten whenever the replica set changes. Do not edit.';

/** The files in the runtime directory, relative to it. */
export const RUNTIME_FILES = {
  /** HAProxy's master CLI (`-S`): `reload`, `show proc`, `@1 show peers`. */
  masterSocket: 'master.sock',
  /** The current worker's admin socket, declared in the peers file's `global` section. */
  adminSocket: 'admin.sock',
  /** The peers file HAProxy loads after the user's configuration; written by init, then the syncer. */
  peers: 'peers.cfg',
  /** 0700, written by init. */
  credentialsDir: 'credentials',
  /** 0600: the Data Plane API password, read by the syncer in dataplaneapi mode. */
  password: 'credentials/password',
  /** 0600: the Data Plane API's userlist with the same password. */
  userlist: 'credentials/dataplaneapi.cfg',
} as const;

/** Absolute paths of the runtime files under `runtimeDir` (the default, or a flag's value in tests). */
export function runtimePaths(runtimeDir: string = RUNTIME_DIR): { readonly [K in keyof typeof RUNTIME_FILES]: string } {
  const dir = runtimeDir.replace(/\/+$/, '');
  const at = (file: string): string => `${dir}/${file}`;
  return {
    masterSocket: at(RUNTIME_FILES.masterSocket),
    adminSocket: at(RUNTIME_FILES.adminSocket),
    peers: at(RUNTIME_FILES.peers),
    credentialsDir: at(RUNTIME_FILES.credentialsDir),
    password: at(RUNTIME_FILES.password),
    userlist: at(RUNTIME_FILES.userlist),
  };
}

/**
 * A group every container of an injected pod belongs to (pod-level supplementalGroups), owning the
 * master socket: HAProxy may run as its image's user (uid 99 in the official image) and the syncer as
 * another uid, and a socket only its owner may write to would lock the syncer out.
 */
export const SHARED_GID = 65532;

/** The master CLI as HAProxy binds it (`-S`): group-writable for the shared group, no one else. */
export const MASTER_SOCKET_BIND = `${runtimePaths().masterSocket},mode,660,gid,${SHARED_GID}`;

export type SyncMode = 'direct' | 'dataplaneapi';
export const SYNC_MODES: readonly SyncMode[] = ['direct', 'dataplaneapi'];

/** What every role assumes when nothing overrides it (an annotation, a flag, an environment variable). */
export const CONTRACT_DEFAULTS = {
  /** The `peers` section the user's stick-tables name (`stick-table … peers haproxy-peers`). */
  peersSection: 'haproxy-peers',
  /** The port every replica's HAProxy listens on for its peers. */
  peerPort: 10000,
  /** The syncer's /healthz, /readyz, /startupz and /metrics; the injected probes use it by name. */
  healthPort: 8585,
  /** The Data Plane API in the pod (dataplaneapi mode), on localhost: the pod shares one network namespace. */
  dataplaneapiPort: 5555,
  mode: 'direct' as SyncMode,
} as const;

/** The Data Plane API's URL as the syncer reaches it from inside the pod. */
export function dataplaneapiUrl(port: number = CONTRACT_DEFAULTS.dataplaneapiPort): string {
  return `http://127.0.0.1:${port}`;
}

/**
 * Every flag of every role can also come from an environment variable: `HPS_` and the flag's name in
 * upper case, dashes as underscores (`--peer-port` → `HPS_PEER_PORT`); common/config.ts derives it.
 */
export const ENV_PREFIX = 'HPS_';

export function flagEnv(flag: string): string {
  return `${ENV_PREFIX}${flag.toUpperCase().replaceAll('-', '_')}`;
}

/**
 * The environment variables the webhook sets on the containers it adds, each the environment form of
 * a flag of the init or syncer role (the flag wins over the variable). The `POD_*` ones come from the
 * downward API. https://kubernetes.io/docs/concepts/workloads/pods/downward-api/
 */
export const ENV = {
  podName: 'POD_NAME',
  podNamespace: 'POD_NAMESPACE',
  podIp: 'POD_IP',
  service: 'HPS_SERVICE',
  namespace: 'HPS_NAMESPACE',
  peersSection: 'HPS_PEERS_SECTION',
  peerPort: 'HPS_PEER_PORT',
  runtimeDir: 'HPS_RUNTIME_DIR',
  mode: 'HPS_MODE',
  healthPort: 'HPS_HEALTH_PORT',
  dataplaneapiUrl: 'HPS_DATAPLANEAPI_URL',
  credentialsFile: 'HPS_CREDENTIALS_FILE',
  /** The init container's `--dataplaneapi-binary` (dataplaneapi mode, from the pod's annotation). */
  dataplaneapiBinary: 'HPS_DATAPLANEAPI_BINARY',
} as const;
