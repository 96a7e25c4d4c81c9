/**
 * The Data Plane API's HTTP side of `--mode dataplaneapi`: finds the API's version (v3, else v2), reads
 * the peers section, and sends what dataplaneapi-plan.ts planned inside one transaction committed with
 * `force_reload=true`, so one change of the replica set costs one reload. Every status is checked; a
 * stale configuration version (409) is read again and the plan made again, up to 3 times; a failed
 * transaction is deleted so it does not count against the API's limit of open transactions.
 *
 * It logs in as the user of the userlist init wrote, with the password read from the credentials
 * file (never from an environment variable: the pod spec would show it). Not exercised against a live
 * Data Plane API by this project's tests (the API cannot be obtained where they run); its requests are
 * tested against a recording HTTP server (dataplaneapi-client.test.ts).
 */
import { readFile } from 'node:fs/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { ApiError, ConfigError, ERRORS } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { ENDPOINTS, entriesFromResponse, planRequests, type ApiVersion, type PeerEntry } from './dataplaneapi-plan.ts';
import type { Peer } from './peers.ts';

/** The user init/render.ts writes into the API's userlist. */
export const DATAPLANEAPI_USER = 'admin';

export interface DataplaneClientOptions {
  readonly baseUrl: URL;
  readonly username: string;
  readonly password: string;
  readonly log: Pick<Logger, 'info' | 'warn'>;
  /** An undici dispatcher (tests pass their own); default: a keep-alive agent of two connections. */
  readonly dispatcher?: Dispatcher;
}

/** What one pass found and did. */
export interface ApplyResult {
  /** The peers the section held before (empty when it did not exist). */
  readonly before: Peer[];
  /** Whether a transaction was committed (false: nothing differed). */
  readonly committed: boolean;
}

const MAX_CONFLICT_RETRIES = 3;

/**
 * Reads the password init wrote (0600): the file's content without its line end. An empty or missing
 * file is a configuration error of the pod (the init container did not run in this mode).
 */
export async function readCredentialsFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([
      `--credentials-file: cannot read ${path}: ${(err as Error).message} (does the init container run with --mode dataplaneapi?)`,
    ]);
  }
  const password = text.trim();
  if (password === '') throw new ConfigError([`--credentials-file: ${path} is empty`]);
  return password;
}

export class DataplaneClient {
  readonly #o: DataplaneClientOptions;
  readonly #dispatcher: Dispatcher;
  readonly #auth: string;
  #version: ApiVersion | undefined;

  constructor(opts: DataplaneClientOptions) {
    this.#o = opts;
    this.#dispatcher = opts.dispatcher ?? new Agent({ keepAliveTimeout: 30_000, connections: 2 });
    this.#auth = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
  }

  /** The API version in use: found once, by asking v3 first (current), then v2. */
  async version(): Promise<ApiVersion> {
    return (this.#version ??= await this.#detect());
  }

  /**
   * Makes `section` hold `desired` (never deleting `localPeer`). `beforeCommit` runs once there is
   * something to change, before the transaction opens: the caller reads the worker about to be
   * replaced then.
   */
  async applyPeers(
    section: string,
    desired: readonly Peer[],
    localPeer: string,
    beforeCommit: () => Promise<void> = async () => undefined,
  ): Promise<ApplyResult> {
    const api = await this.version();
    let hookRan = false;
    for (let attempt = 0; ; attempt++) {
      const version = await this.#configVersion(api);
      const { exists, entries } = await this.#section(api, section);
      const before: Peer[] = entries.map((e) => ({ name: e.name, host: e.address, port: e.port }));
      const plan = planRequests({ section, sectionExists: exists, current: entries, desired, localPeer });
      if (plan.length === 0) return { before, committed: false };
      if (!hookRan) {
        hookRan = true;
        await beforeCommit();
      }
      const tx = await this.#call(
        api,
        'POST',
        ENDPOINTS.transactions(version),
        undefined,
        [201],
        'opening a transaction',
        [409],
      );
      if (tx.status === 409) {
        if (attempt < MAX_CONFLICT_RETRIES) continue; // the version moved: read it again and plan again
        throw new ApiError(ERRORS.HPS_DPAPI, 'opening a transaction: version conflict persists', { status: 409 });
      }
      const rawId = (tx.body as { id?: unknown } | undefined)?.id;
      const id = typeof rawId === 'string' ? rawId : '';
      if (id === '')
        throw new ApiError(ERRORS.HPS_DPAPI, 'opening a transaction: the answer has no id', { status: tx.status });
      try {
        for (const r of plan) {
          const ok = r.method === 'POST' ? [201, 202] : r.method === 'PUT' ? [200, 202] : [204, 202];
          await this.#call(api, r.method, ENDPOINTS.configuration(r.path, id), r.body, ok, `${r.method} ${r.path}`);
        }
        const commit = await this.#call(
          api,
          'PUT',
          ENDPOINTS.commit(id),
          undefined,
          [200, 202],
          'committing the transaction',
          [409],
        );
        if (commit.status === 409) {
          await this.#abandon(api, id);
          if (attempt < MAX_CONFLICT_RETRIES) continue;
          throw new ApiError(ERRORS.HPS_DPAPI, 'committing the transaction: version conflict persists', {
            status: 409,
          });
        }
      } catch (err) {
        await this.#abandon(api, id);
        throw err;
      }
      return { before, committed: true };
    }
  }

  async #detect(): Promise<ApiVersion> {
    for (const v of ['v3', 'v2'] as const) {
      const r = await this.#raw('GET', `/${v}${ENDPOINTS.info}`).catch((err: unknown) => {
        throw new ApiError(
          ERRORS.HPS_DPAPI_DOWN,
          `Data Plane API at ${this.#o.baseUrl.origin} not answering: ${(err as Error).message}`,
          { cause: err },
        );
      });
      if (r.status === 200) {
        this.#o.log.info(
          { api: v, version: (r.body as { api?: { version?: unknown } } | null)?.api?.version },
          'Data Plane API detected',
        );
        return v;
      }
      // Retryable: init writes a new password on every run, and the API reads its userlist at start.
      if (r.status === 401 || r.status === 403)
        throw new ApiError(ERRORS.HPS_DPAPI, `GET /${v}/info: ${r.status} (check the credentials file)`, {
          status: r.status,
          retryable: true,
        });
    }
    throw new ApiError(ERRORS.HPS_DPAPI_DOWN, 'neither /v3/info nor /v2/info answered 200');
  }

  async #configVersion(api: ApiVersion): Promise<number> {
    const r = await this.#call(
      api,
      'GET',
      ENDPOINTS.configurationVersion,
      undefined,
      [200],
      'reading the configuration version',
    );
    const n = Number(r.body);
    if (!Number.isInteger(n)) throw new ApiError(ERRORS.HPS_DPAPI, 'configuration version is not an integer');
    return n;
  }

  async #section(api: ApiVersion, section: string): Promise<{ exists: boolean; entries: PeerEntry[] }> {
    const found = await this.#call(
      api,
      'GET',
      ENDPOINTS.peerSection(section),
      undefined,
      [200, 404],
      'reading the peers section',
    );
    if (found.status === 404) return { exists: false, entries: [] };
    const r = await this.#call(
      api,
      'GET',
      ENDPOINTS.peerEntries(section),
      undefined,
      [200],
      'reading the peer entries',
    );
    return { exists: true, entries: entriesFromResponse(r.body) };
  }

  async #abandon(api: ApiVersion, id: string): Promise<void> {
    await this.#call(
      api,
      'DELETE',
      ENDPOINTS.transaction(id),
      undefined,
      [204, 404],
      'abandoning the transaction',
    ).catch(() => undefined);
  }

  /** A call whose status must be in `ok` (or `tolerated`, returned to the caller); anything else throws. */
  async #call(
    api: ApiVersion,
    method: string,
    path: string,
    body: unknown,
    ok: number[],
    what: string,
    tolerated: number[] = [],
  ): Promise<{ status: number; body: unknown }> {
    const r = await this.#raw(method, `/${api}${path}`, body).catch((err: unknown) => {
      throw new ApiError(ERRORS.HPS_DPAPI_DOWN, `${what}: ${(err as Error).message}`, { cause: err });
    });
    if (ok.includes(r.status) || tolerated.includes(r.status)) return r;
    const message = typeof r.body === 'object' && r.body !== null && 'message' in r.body ? String(r.body.message) : '';
    this.#o.log.warn({ method, path, status: r.status, message }, 'Data Plane API call failed');
    throw new ApiError(
      ERRORS.HPS_DPAPI,
      `${what}: ${method} ${path} answered ${r.status}${message ? ` (${message})` : ''}`,
      { status: r.status, retryable: r.status >= 500 || r.status === 406 || r.status === 409 || r.status === 429 },
    );
  }

  async #raw(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await request(new URL(path, this.#o.baseUrl), {
      method,
      dispatcher: this.#dispatcher,
      headers: { authorization: this.#auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* plain text */
    }
    return { status: res.statusCode, body: parsed };
  }
}
