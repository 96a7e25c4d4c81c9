/**
 * The names a user writes on a pod to ask for injection and to override its defaults, and the names of
 * what we inject. One place, so the handler, the domain, the tests and the README agree.
 * See docs/design.md ("Inside an injected pod").
 */

export const PREFIX = 'haproxy-peer-sync.io/';

/** Label selecting a pod for injection; the MutatingWebhookConfiguration's objectSelector uses it too. */
export const INJECT_LABEL = `${PREFIX}inject`;

/** Per-pod overrides, all under {@link PREFIX}. */
export const ANNOTATIONS = {
  service: `${PREFIX}service`,
  peersSection: `${PREFIX}peers-section`,
  peerPort: `${PREFIX}peer-port`,
  container: `${PREFIX}container`,
  config: `${PREFIX}config`,
  dataplaneapiPort: `${PREFIX}dataplaneapi-port`,
  sidecarMode: `${PREFIX}sidecar-mode`,
  mode: `${PREFIX}mode`,
  /** Seconds the HAProxy container keeps serving after its pod is deleted, before it is stopped; 0: off. */
  drainSeconds: `${PREFIX}drain-seconds`,
  /** Written by the webhook, never read as an override: `injected; version=<v>`. */
  status: `${PREFIX}status`,
} as const;

/** Names of what the webhook adds to a pod. */
export const NAMES = {
  volume: 'haproxy-peer-sync',
  syncer: 'haproxy-peer-sync',
  init: 'haproxy-peer-sync-init',
  healthPortName: 'hps-health',
} as const;

/** Where the shared emptyDir is mounted in every container that uses it. */
export const RUNTIME_DIR = '/var/run/haproxy-peer-sync';
export const MASTER_SOCKET = `${RUNTIME_DIR}/master.sock`;
/**
 * A group every container of an injected pod belongs to (pod-level supplementalGroups), owning the
 * master socket: HAProxy may run as its image's user (uid 99 in the official image) and the syncer as
 * another uid, and a socket only its owner may write to would lock the syncer out.
 */
export const SHARED_GID = 65532;
/** The master CLI as HAProxy binds it: group-writable for the shared group, no one else. */
export const MASTER_SOCKET_BIND = `${MASTER_SOCKET},mode,660,gid,${SHARED_GID}`;
export const PEERS_FILE = `${RUNTIME_DIR}/peers.cfg`;
/** Written 0600 by the init container (init/write.ts), read by the syncer in dataplaneapi mode. */
export const CREDENTIALS_PASSWORD_FILE = `${RUNTIME_DIR}/credentials/password`;

export const DEFAULTS = {
  peersSection: 'haproxy-peers',
  peerPort: 10000,
  config: '/usr/local/etc/haproxy/haproxy.cfg',
  dataplaneapiPort: 5555,
  mode: 'direct',
  healthPort: 8585,
  /**
   * Long enough for an endpoint removal to reach a front load balancer that re-resolves every second
   * (EndpointSlice → DNS → its resolver), short enough not to slow a rollout down; Istio's default drain is 5 s too.
   */
  drainSeconds: 5,
  /** A distroless "nonroot" uid: used unless the HAProxy container or the pod already chose one. */
  runAsUser: 65532,
} as const;

export type SidecarMode = 'native' | 'regular';
export type SyncMode = 'direct' | 'dataplaneapi';

/** Drains longer than this are refused: a typo such as 3000 would hold every rollout for most of an hour. */
export const MAX_DRAIN_SECONDS = 600;
/**
 * Time a grace period must leave HAProxy after the drain. A soft stop (the official image's SIGUSR1)
 * closes idle connections at once and lets requests in flight finish, which takes well under this.
 */
export const STOP_SECONDS_MIN = 5;
