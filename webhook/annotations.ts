/**
 * The names a user writes on a pod to ask for injection and to override its defaults, and the names of
 * what we inject. One place, so the handler, the domain, the tests and the README agree. The paths and
 * defaults the injected containers share with HAProxy are the pod contract (common/contract.ts),
 * re-exported here for the webhook's modules. See docs/design.md ("Inside an injected pod").
 */
import { CONTRACT_DEFAULTS, runtimePaths } from '../common/contract.ts';

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
  /**
   * Mode `dataplaneapi`: the Data Plane API executable in the HAProxy image (an absolute path without
   * spaces; default: init's `/usr/local/bin/dataplaneapi`), started by HAProxy's `program` section.
   * The mode is not exercised against a live Data Plane API by this project's tests (webhook/dataplaneapi.ts).
   */
  dataplaneapiBinary: `${PREFIX}dataplaneapi-binary`,
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

/** The pod contract, shared with the init container and the syncer: see common/contract.ts. */
export { MASTER_SOCKET_BIND, RUNTIME_DIR, SHARED_GID, type SyncMode } from '../common/contract.ts';
const paths = runtimePaths();
export const MASTER_SOCKET = paths.masterSocket;
export const PEERS_FILE = paths.peers;
/** Written 0600 by the init container (init/write.ts), read by the syncer in dataplaneapi mode. */
export const CREDENTIALS_PASSWORD_FILE = paths.password;

/** What a pod gets when its annotations say nothing: the pod contract's defaults, and the webhook's own. */
export const DEFAULTS = {
  peersSection: CONTRACT_DEFAULTS.peersSection,
  peerPort: CONTRACT_DEFAULTS.peerPort,
  dataplaneapiPort: CONTRACT_DEFAULTS.dataplaneapiPort,
  mode: CONTRACT_DEFAULTS.mode,
  config: '/usr/local/etc/haproxy/haproxy.cfg',
  /**
   * Long enough for an endpoint removal to reach a front load balancer that re-resolves every second
   * (EndpointSlice → DNS → its resolver), short enough not to slow a rollout down; Istio's default drain is 5 s too.
   */
  drainSeconds: 5,
  /** A distroless "nonroot" uid: used unless the HAProxy container or the pod already chose one. */
  runAsUser: 65532,
} as const;

export type SidecarMode = 'native' | 'regular';

/** Drains longer than this are refused: a typo such as 3000 would hold every rollout for most of an hour. */
export const MAX_DRAIN_SECONDS = 600;
/**
 * Time a grace period must leave HAProxy after the drain. A soft stop (the official image's SIGUSR1)
 * closes idle connections at once and lets requests in flight finish, which takes well under this.
 */
export const STOP_SECONDS_MIN = 5;
