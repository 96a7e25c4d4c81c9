/**
 * The two inputs of an injection: what the webhook's flags decide for every pod (InjectorConfig) and one
 * pod's resolved settings (InjectSettings). Types only, in a module of their own so that inject.ts and the
 * container builders it calls (containers.ts) both read them without importing each other.
 */
import type { SidecarMode } from './annotations.ts';
import type { SyncMode } from '../common/contract.ts';

/** What the webhook's flags decide for every pod (the per-pod annotations may override some). */
export interface InjectorConfig {
  readonly image: string;
  /** Our version, written into the status annotation. */
  readonly version: string;
  readonly sidecarMode: SidecarMode;
  readonly imagePullPolicy?: string | undefined;
  readonly resources: {
    readonly requests: Readonly<Record<string, string>>;
    readonly limits: Readonly<Record<string, string>>;
  };
  readonly healthPort: number;
  /** The drain given to a pod whose annotation does not choose one (webhook/drain.ts). */
  readonly drainSeconds: number;
}

/** One pod's resolved settings: defaults, overridden by its annotations, all checked. */
export interface InjectSettings {
  readonly service: string;
  readonly peersSection: string;
  readonly peerPort: number;
  readonly containerIndex: number;
  readonly containerName: string;
  readonly config: string;
  readonly dataplaneapiPort: number;
  /** Mode dataplaneapi: the API's executable from the annotation (undefined: the init container's default). */
  readonly dataplaneapiBinary: string | undefined;
  readonly sidecarMode: SidecarMode;
  readonly mode: SyncMode;
  readonly runAsUser: number;
  readonly runAsGroup: number | undefined;
  /** The HAProxy container's new command/args (undefined: leave that field as it is). */
  readonly command: string[] | undefined;
  readonly args: string[] | undefined;
  /** Seconds of the preStop sleep added to HAProxy (and to a regular-mode syncer); 0: none. */
  readonly drainSeconds: number;
}
