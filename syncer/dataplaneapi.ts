/**
 * Data Plane API backend (`--mode dataplaneapi`): the Data Plane API, started by HAProxy's master from
 * the `program` section init wrote, manages the peers file; the syncer changes the section through the
 * API (dataplaneapi-client.ts: v2 or v3, one transaction per change, committed with a forced reload)
 * and reads HAProxy's version and `show peers` from the master CLI as in direct mode.
 *
 * Not exercised against a live Data Plane API by this project's tests: the API cannot be obtained on
 * the machines that run them (its Go module is refused by the module proxy, Debian has no package).
 * What is tested: its requests against a recording HTTP server (dataplaneapi-client.test.ts), and
 * `haproxy -c` on the files that start it (test/dataplaneapi-haproxy.test.ts).
 */
import type { Logger } from '../common/logger.ts';
import { ackFields, dialectOf, showPeers, showProc, waitForAcks, type Backend, type SyncResult } from './direct.ts';
import { runtimePaths } from '../common/contract.ts';
import { masterInstance } from './show-proc.ts';
import { DataplaneClient, DATAPLANEAPI_USER, readCredentialsFile } from './dataplaneapi-client.ts';
import type { Peer } from './peers.ts';
import type { SectionStatus } from './show-peers.ts';

export interface DataplaneBackendOptions {
  readonly baseUrl: URL;
  readonly username: string;
  /** Read from the credentials file init wrote (see {@link DataplaneBackend.fromCredentialsFile}). */
  readonly password: string;
  readonly section: string;
  /** Where the master socket is, for `show proc` (HAProxy's version) and `show peers` (readiness). */
  readonly runtimeDir: string;
  readonly log: Logger;
  /** The local peer is never deleted. */
  readonly localPeer?: string;
}

export class DataplaneBackend implements Backend {
  readonly #o: DataplaneBackendOptions;
  readonly #client: DataplaneClient;
  readonly #masterSocket: string;

  /** The backend as an injected pod runs it: user `admin`, the password from `credentialsFile` (never from an env value). */
  static async fromCredentialsFile(
    opts: Omit<DataplaneBackendOptions, 'username' | 'password'> & { readonly credentialsFile: string },
  ): Promise<DataplaneBackend> {
    return new DataplaneBackend({
      ...opts,
      username: DATAPLANEAPI_USER,
      password: await readCredentialsFile(opts.credentialsFile),
    });
  }

  constructor(opts: DataplaneBackendOptions) {
    this.#o = opts;
    this.#masterSocket = runtimePaths(opts.runtimeDir).masterSocket;
    this.#client = new DataplaneClient({
      baseUrl: opts.baseUrl,
      username: opts.username,
      password: opts.password,
      log: opts.log,
    });
  }

  async sync(desired: readonly Peer[]): Promise<SyncResult> {
    await this.#client.version(); // a retryable error while the API is not listening yet
    // The HAProxy version (master CLI) says how to read `show peers`; an unknown one is refused.
    const proc = await showProc(this.#masterSocket);
    const haproxy = dialectOf(proc);
    const instance = masterInstance(proc, Date.now());
    let replaced: SectionStatus | undefined;
    let acks: Awaited<ReturnType<typeof waitForAcks>> | undefined;
    const { before, committed } = await this.#client.applyPeers(
      this.#o.section,
      desired,
      this.#o.localPeer ?? '',
      async () => {
        // Just before the commit's reload: the peers that stay acknowledge this worker's writes (as in
        // direct mode), and what the worker about to be replaced holds decides whether its lesson to the
        // next one counts (show-peers.ts).
        const live = await this.showPeers().catch(() => undefined);
        acks = await waitForAcks(() => this.showPeers(), live, desired);
        replaced = acks.last;
      },
    );
    if (!committed)
      return { running: true, fileChanged: false, reloaded: false, before, applied: before, instance, haproxy };
    return {
      running: true,
      fileChanged: true,
      reloaded: true,
      before,
      applied: desired,
      instance,
      haproxy,
      ...(replaced === undefined ? {} : { replaced }),
      ...(acks === undefined ? {} : ackFields(acks)),
    };
  }

  async showPeers(): Promise<SectionStatus | undefined> {
    return showPeers(this.#masterSocket, this.#o.section);
  }
}
