/**
 * Data Plane API backend (`--mode dataplaneapi`): the peers section lives in HAProxy's main
 * configuration and is changed through the API, all differences in one transaction committed with
 * `force_reload=true` (the syncer already coalesces; the API's own reload timer would add 5 s).
 * Every status is checked; a stale version (409) re-reads the version and retries.
 *
 * Not exercised against a real Data Plane API in this repository: it cannot be built here (see the
 * README); its request planning is unit-tested in dataplaneapi-plan.test.ts.
 */
import { Agent, request } from 'undici';
import { ApiError, ERRORS } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { dialectOf, showPeers, showProc, type Backend, type SyncResult } from './direct.ts';
import { runtimePaths } from '../common/contract.ts';
import { masterInstance } from './show-proc.ts';
import { entriesFromResponse, planRequests, withTransaction, type ApiVersion, type PeerEntry } from './dataplaneapi-plan.ts';
import type { Peer } from './peers.ts';
import type { SectionStatus } from './show-peers.ts';

export interface DataplaneBackendOptions {
  readonly baseUrl: URL;
  readonly username: string;
  readonly password: string;
  readonly section: string;
  /** Where the master socket is, for `show peers` (readiness). */
  readonly runtimeDir: string;
  readonly log: Logger;
  /** The local peer is never deleted. */
  readonly localPeer?: string;
}

const MAX_CONFLICT_RETRIES = 3;

export class DataplaneBackend implements Backend {
  readonly #o: DataplaneBackendOptions;
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: 2 });
  readonly #auth: string;
  readonly #masterSocket: string;
  #version: ApiVersion | undefined;

  constructor(opts: DataplaneBackendOptions) {
    this.#o = opts;
    this.#masterSocket = runtimePaths(opts.runtimeDir).masterSocket;
    this.#auth = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
  }

  async sync(desired: readonly Peer[]): Promise<SyncResult> {
    const api = this.#version ??= await this.#detect();
    // The HAProxy version (master CLI) says how to read `show peers`; an unknown one is refused.
    const proc = await showProc(this.#masterSocket);
    const haproxy = dialectOf(proc);
    const instance = masterInstance(proc, Date.now());
    for (let attempt = 0; ; attempt++) {
      const version = await this.#configVersion(api);
      const { exists, entries } = await this.#entries(api);
      const before: Peer[] = entries.map((e) => ({ name: e.name, host: e.address, port: e.port }));
      const plan = planRequests({ section: this.#o.section, sectionExists: exists, current: entries, desired, localPeer: this.#o.localPeer ?? '' });
      if (plan.length === 0) return { running: true, fileChanged: false, reloaded: false, before, applied: before, instance, haproxy };
      // What the worker about to be replaced holds: whether its lesson to the next one counts (show-peers.ts).
      const replaced = await this.showPeers().catch(() => undefined);
      const tx = await this.#call(api, 'POST', `/services/haproxy/transactions?version=${version}`, undefined, [201], 'opening a transaction', [409]);
      if (tx.status === 409) {
        if (attempt < MAX_CONFLICT_RETRIES) continue; // the version moved: re-read it and plan again
        throw new ApiError(ERRORS.HPS_DPAPI, 'opening a transaction: version conflict persists', { status: 409 });
      }
      const id = String((tx.body as { id?: unknown }).id);
      try {
        for (const r of plan) {
          const ok = r.method === 'POST' ? [201, 202] : r.method === 'PUT' ? [200, 202] : [204, 202];
          await this.#call(api, r.method, `/services/haproxy/configuration${withTransaction(r.path, id)}`, r.body, ok, `${r.method} ${r.path}`);
        }
        const commit = await this.#call(api, 'PUT', `/services/haproxy/transactions/${encodeURIComponent(id)}?force_reload=true`, undefined, [200, 202], 'committing the transaction', [409]);
        if (commit.status === 409 && attempt < MAX_CONFLICT_RETRIES) continue;
        if (commit.status === 409) throw new ApiError(ERRORS.HPS_DPAPI, 'committing the transaction: version conflict persists', { status: 409 });
      } catch (err) {
        await this.#call(api, 'DELETE', `/services/haproxy/transactions/${encodeURIComponent(id)}`, undefined, [204, 404], 'abandoning the transaction').catch(() => undefined);
        throw err;
      }
      return { running: true, fileChanged: true, reloaded: true, before, applied: desired, instance, haproxy, ...(replaced === undefined ? {} : { replaced }) };
    }
  }

  async showPeers(): Promise<SectionStatus | undefined> {
    return showPeers(this.#masterSocket, this.#o.section);
  }

  /** v3 first (current), else v2; a retryable error while the API is not listening yet. */
  async #detect(): Promise<ApiVersion> {
    for (const v of ['v3', 'v2'] as const) {
      const r = await this.#raw('GET', `/${v}/info`).catch((err: unknown) => {
        throw new ApiError(ERRORS.HPS_DPAPI_DOWN, `Data Plane API at ${this.#o.baseUrl.origin} not answering: ${(err as Error).message}`, { cause: err });
      });
      if (r.status === 200) {
        this.#o.log.info({ api: v, version: (r.body as { api?: { version?: unknown } } | null)?.api?.version }, 'Data Plane API detected');
        return v;
      }
      if (r.status === 401 || r.status === 403) throw new ApiError(ERRORS.HPS_DPAPI, `GET /${v}/info: ${r.status} (check the credentials file)`, { status: r.status, retryable: true });
    }
    throw new ApiError(ERRORS.HPS_DPAPI_DOWN, 'neither /v3/info nor /v2/info answered 200');
  }

  async #configVersion(api: ApiVersion): Promise<number> {
    const r = await this.#call(api, 'GET', '/services/haproxy/configuration/version', undefined, [200], 'reading the configuration version');
    const n = Number(r.body);
    if (!Number.isInteger(n)) throw new ApiError(ERRORS.HPS_DPAPI, 'configuration version is not an integer');
    return n;
  }

  async #entries(api: ApiVersion): Promise<{ exists: boolean; entries: PeerEntry[] }> {
    const q = `peer_section=${encodeURIComponent(this.#o.section)}`;
    const r = await this.#call(api, 'GET', `/services/haproxy/configuration/peer_entries?${q}`, undefined, [200, 404], 'reading the peer entries');
    if (r.status === 404) return { exists: false, entries: [] };
    return { exists: true, entries: entriesFromResponse(r.body) };
  }

  /** A call whose status must be in `ok` (or `tolerated`, returned to the caller); anything else throws. */
  async #call(api: ApiVersion, method: string, path: string, body: unknown, ok: number[], what: string, tolerated: number[] = []): Promise<{ status: number; body: unknown }> {
    const r = await this.#raw(method, `/${api}${path}`, body).catch((err: unknown) => {
      throw new ApiError(ERRORS.HPS_DPAPI_DOWN, `${what}: ${(err as Error).message}`, { cause: err });
    });
    if (ok.includes(r.status) || tolerated.includes(r.status)) return r;
    const message = typeof r.body === 'object' && r.body !== null && 'message' in r.body ? String((r.body).message) : '';
    this.#o.log.warn({ method, path, status: r.status, message }, 'Data Plane API call failed');
    throw new ApiError(ERRORS.HPS_DPAPI, `${what}: ${method} ${path} answered ${r.status}${message ? ` (${message})` : ''}`, { status: r.status, retryable: r.status >= 500 || r.status === 406 || r.status === 409 || r.status === 429 });
  }

  async #raw(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await request(new URL(path, this.#o.baseUrl), {
      method: method as 'GET', dispatcher: this.#agent,
      headers: { authorization: this.#auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try { parsed = text === '' ? undefined : JSON.parse(text); } catch { /* plain text */ }
    return { status: res.statusCode, body: parsed };
  }
}
