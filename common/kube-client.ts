/**
 * The few Kubernetes API calls this project makes, over node:https: the syncer's one list and one
 * watch (syncer/kube-client.ts re-exports them), and the webhook's calls by name — one Secret (read,
 * create, replace), one MutatingWebhookConfiguration (get, JSON patch), SubjectAccessReviews (create).
 *
 * Why not @kubernetes/client-node: its KubeConfig imports the whole generated API, which measured
 * 125 MB resident and 0.6 s of CPU per process on this machine — for a sidecar in every HAProxy pod,
 * started in bursts of 20 on 2 cores, and for a webhook that must live in a small limit. Its types are
 * still used (`import type`). Supported credentials: the in-cluster service account (token re-read on
 * every request, since projected tokens rotate; the cluster CA re-read for every new connection, since it
 * rotates too) and kubeconfig files with client certificates or bearer tokens (exec/OIDC plugins are not
 * supported), or an already loaded client-node KubeConfig (tests). Lists are read page by page.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks
 * https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request, type AgentOptions, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { ApiError, ConfigError, ERRORS } from './errors.ts';

/** Where the API is and how to authenticate. */
export interface KubeAccess {
  readonly server: URL;
  readonly agent: Agent | undefined;
  /** Bearer token, read at each request (undefined: client certificate only). */
  readonly token: (() => string | undefined) | undefined;
  readonly namespace: string | undefined;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * A keep-alive HTTPS agent that trusts what its CA file holds now. The cluster CA a pod trusts is a
 * projected file (the kube-root-ca.crt ConfigMap) that the kubelet replaces when the CA rotates, so the
 * file is read again for each request (as the token is) and, when it changed, the request goes out on a
 * new connection verified against the new CA: connections and cached TLS sessions are keyed by the CA's
 * digest. Open connections (a watch) keep the chain they verified. A file that cannot be read keeps the
 * last CA read.
 */
export class CaFileAgent extends Agent {
  readonly caFile: string;
  #ca: Buffer;
  #digest: string;

  constructor(caFile: string, options: Omit<AgentOptions, 'ca'> = {}) {
    super(options);
    this.caFile = caFile;
    this.#ca = readFileSync(caFile);
    this.#digest = createHash('sha256').update(this.#ca).digest('hex').slice(0, 16);
  }

  override getName(options?: RequestOptions): string {
    try {
      const ca = readFileSync(this.caFile);
      if (!ca.equals(this.#ca)) {
        this.#ca = ca;
        this.#digest = createHash('sha256').update(ca).digest('hex').slice(0, 16);
      }
    } catch {
      /* keep the last CA read */
    }
    return `${super.getName(options)}:ca=${this.#digest}`;
  }

  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    return super.createConnection({ ...options, ca: this.#ca }, callback);
  }
}

/** The pod's service account (KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA). */
export function inClusterAccess(env: Readonly<Record<string, string | undefined>>): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new ConfigError(['not in a cluster (KUBERNETES_SERVICE_HOST unset): pass --kubeconfig']);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    server: new URL(`https://${hostPart}:${port}`),
    agent: new CaFileAgent(`${SA_DIR}/ca.crt`, { keepAlive: true }),
    token: () => readFileSync(`${SA_DIR}/token`, 'utf8').trim(),
    namespace: undefined,
  };
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
  clusters?: {
    name: string;
    cluster: {
      server: string;
      'certificate-authority'?: string;
      'certificate-authority-data'?: string;
      'insecure-skip-tls-verify'?: boolean;
    };
  }[];
  users?: {
    name: string;
    user: {
      token?: string;
      tokenFile?: string;
      'client-certificate'?: string;
      'client-certificate-data'?: string;
      'client-key'?: string;
      'client-key-data'?: string;
    };
  }[];
}

/** A kubeconfig file's current context (paths in it are relative to the file, as kubectl reads them). */
export async function kubeconfigAccess(path: string): Promise<KubeAccess> {
  return kubeconfigFilesAccess([path], `--kubeconfig ${path}`);
}

/**
 * The current context of one or more kubeconfig files merged as kubectl merges `KUBECONFIG`: the first
 * file to set `current-context` or to define a name wins; relative paths are relative to their file.
 */
async function kubeconfigFilesAccess(paths: readonly string[], what: string): Promise<KubeAccess> {
  const { parse } = await import('yaml'); // only out of cluster: keeps the in-cluster processes smaller
  const files = paths.map((path) => ({
    base: dirname(path),
    cfg: (parse(readFileSync(path, 'utf8')) as KubeconfigFile | null) ?? {},
  }));
  const first = <T>(pick: (cfg: KubeconfigFile) => T | undefined): { value: T; base: string } | undefined => {
    for (const f of files) {
      const value = pick(f.cfg);
      if (value !== undefined) return { value, base: f.base };
    }
    return undefined;
  };
  const current = first((c) => c['current-context'] || undefined)?.value;
  const ctx = first((c) => c.contexts?.find((x) => x.name === current)?.context)?.value;
  const cluster = first((c) => c.clusters?.find((x) => x.name === ctx?.cluster)?.cluster);
  const user = first((c) => c.users?.find((x) => x.name === ctx?.user)?.user);
  if (ctx === undefined || cluster === undefined) throw new ConfigError([`${what}: no current context with a cluster`]);
  const u = user?.value ?? {};
  const userBase = user?.base ?? cluster.base;
  const material = (data: string | undefined, file: string | undefined, base: string): Buffer | undefined =>
    data !== undefined
      ? Buffer.from(data, 'base64')
      : file !== undefined
        ? readFileSync(resolve(base, file))
        : undefined;
  const server = new URL(cluster.value.server);
  const tokenFile = u.tokenFile;
  const tls = {
    keepAlive: true,
    cert: material(u['client-certificate-data'], u['client-certificate'], userBase),
    key: material(u['client-key-data'], u['client-key'], userBase),
    rejectUnauthorized: cluster.value['insecure-skip-tls-verify'] !== true,
  };
  const caData = cluster.value['certificate-authority-data'];
  const caFile = cluster.value['certificate-authority'];
  return {
    server,
    // A CA named by file is re-read per connection, as in a pod; one embedded in the file is fixed.
    agent:
      server.protocol !== 'https:'
        ? undefined
        : caData === undefined && caFile !== undefined
          ? new CaFileAgent(resolve(cluster.base, caFile), tls)
          : new Agent({ ...tls, ca: material(caData, undefined, cluster.base) }),
    token:
      u.token !== undefined
        ? () => u.token
        : tokenFile !== undefined
          ? () => readFileSync(resolve(userBase, tokenFile), 'utf8').trim()
          : undefined,
    namespace: ctx.namespace,
  };
}

/**
 * The credentials @kubernetes/client-node's `KubeConfig.loadFromDefault()` would pick, in its order:
 * the files in `KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account (when its token
 * is mounted), else `http://localhost:8080`. For roles without a --kubeconfig flag (the webhook).
 */
export async function defaultAccess(
  env: Readonly<Record<string, string | undefined>>,
  home: string = homedir(),
): Promise<KubeAccess> {
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (listed.length > 0) return kubeconfigFilesAccess(listed, `KUBECONFIG=${env.KUBECONFIG ?? ''}`);
  const own = join(home, '.kube', 'config');
  if (home !== '' && existsSync(own)) return kubeconfigFilesAccess([own], own);
  if (existsSync(`${SA_DIR}/token`)) return inClusterAccess(env);
  return { server: new URL('http://localhost:8080'), agent: undefined, token: undefined, namespace: undefined };
}

/**
 * The part of a loaded @kubernetes/client-node `KubeConfig` used here (structural, so that accepting
 * one costs no import). Tests and tools that already hold one pass it instead of a KubeAccess.
 */
export interface KubeConfigLike {
  getCurrentCluster(): { readonly server: string } | null;
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

/** Either kind of credentials. */
export type KubeCredentials = KubeAccess | KubeConfigLike;

/**
 * A KubeAccess for either kind of credentials, resolved on first use. A KubeConfig is asked once for its
 * TLS agent and Authorization header (client certificates and static tokens; no refresh).
 */
export function lazyAccess(credentials: KubeCredentials): () => Promise<KubeAccess> {
  if (!('applyToHTTPSOptions' in credentials)) return () => Promise.resolve(credentials);
  let resolved: Promise<KubeAccess> | undefined;
  return () => {
    resolved ??= (async () => {
      const cluster = credentials.getCurrentCluster();
      if (cluster === null) throw new ConfigError(['the kubeconfig has no current cluster']);
      const opts: RequestOptions = {};
      await credentials.applyToHTTPSOptions(opts);
      const headers = (opts.headers ?? {}) as Record<string, unknown>;
      const authorization = headers['Authorization'] ?? headers['authorization'];
      const token =
        typeof authorization === 'string' && authorization.startsWith('Bearer ') ? authorization.slice(7) : undefined;
      return {
        server: new URL(cluster.server),
        agent: opts.agent instanceof Agent ? opts.agent : undefined,
        token: token === undefined ? undefined : () => token,
        namespace: undefined,
      };
    })();
    resolved.catch(() => {
      resolved = undefined;
    }); // a failure is not remembered: the next call tries again
    return resolved;
  };
}

/** An API error with the HTTP status, retryable unless it is a client error other than 408/429. */
function statusError(what: string, status: number, body: string): ApiError {
  let message = body.slice(0, 200);
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof m === 'string') message = m;
  } catch {
    /* not JSON */
  }
  return new ApiError(ERRORS.HPS_KUBE_API, `${what}: ${status} ${message}`, {
    status,
    retryable: status >= 500 || status === 408 || status === 429 || status === 410,
  });
}

/** A request body and its media type. */
interface Payload {
  readonly bytes: Buffer;
  readonly contentType: string;
}

/** Sends a request; resolves with the response once the headers arrived. */
function open(access: KubeAccess, method: string, path: string, signal: AbortSignal | undefined, payload?: Payload) {
  const url = new URL(path, access.server);
  const token = access.token?.();
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'haproxy-peer-sync' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (payload !== undefined) {
    headers['content-type'] = payload.contentType;
    headers['content-length'] = String(payload.bytes.length);
  }
  const send = url.protocol === 'https:' ? request : httpRequest;
  return new Promise<IncomingMessage>((resolveRes, reject) => {
    const req = send(url, { method, headers, agent: access.agent, signal }, resolveRes);
    req.on('error', reject);
    req.end(payload?.bytes);
  });
}

/**
 * One request with an optional JSON body (`contentType` defaults to application/json, e.g.
 * `application/json-patch+json` for a JSON patch); resolves with the parsed answer. Throws ApiError with
 * `status` on a non-2xx answer, and a retryable ApiError without status on a network error.
 */
export async function requestJson<T>(
  access: KubeAccess,
  method: string,
  path: string,
  opts: { body?: unknown; contentType?: string; signal?: AbortSignal } = {},
): Promise<T> {
  const what = `${method} ${path}`;
  const payload =
    opts.body === undefined
      ? undefined
      : { bytes: Buffer.from(JSON.stringify(opts.body)), contentType: opts.contentType ?? 'application/json' };
  const res = await open(access, method, path, opts.signal, payload).catch((err: unknown) => {
    throw new ApiError(ERRORS.HPS_KUBE_API, `${what}: ${(err as Error).message}`, { cause: err });
  });
  let body = '';
  res.setEncoding('utf8');
  for await (const chunk of res) body += chunk as string;
  if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) throw statusError(what, res.statusCode ?? 0, body);
  return JSON.parse(body) as T;
}

/** GET a JSON document; throws ApiError on a non-2xx status or a network error. */
export async function getJson<T>(access: KubeAccess, path: string, signal?: AbortSignal): Promise<T> {
  return requestJson<T>(access, 'GET', path, signal === undefined ? {} : { signal });
}

/** One page of a list: its items, and a `continue` token while more pages follow. */
export interface ListPage<T> {
  readonly items: readonly T[];
  readonly metadata?:
    { readonly resourceVersion?: string | undefined; readonly continue?: string | undefined } | undefined;
}

/** A whole list: every item, and the resourceVersion a watch resumes from. */
export interface ListResult<T> {
  readonly items: T[];
  readonly resourceVersion: string;
}

/**
 * Reads pages until one comes without a `continue` token. The apiserver serves every page of a list
 * from one snapshot, so the items are consistent and the last page's resourceVersion is the list's.
 * A token that expired meanwhile (410 Gone) is the caller's to handle by listing again.
 * @param fetchPage reads the page after `continueToken` (undefined: the first page)
 */
export async function collectPages<T>(
  fetchPage: (continueToken: string | undefined) => Promise<ListPage<T>>,
): Promise<ListResult<T>> {
  const items: T[] = [];
  const seen = new Set<string>();
  let token: string | undefined;
  for (;;) {
    const page = await fetchPage(token);
    items.push(...page.items);
    const next = page.metadata?.continue;
    if (next === undefined || next === '') return { items, resourceVersion: page.metadata?.resourceVersion ?? '' };
    // A server that hands out a token twice would keep us reading forever.
    if (seen.has(next))
      throw new ApiError(ERRORS.HPS_KUBE_API, `list: the continue token repeated after ${seen.size} pages`);
    seen.add(next);
    token = next;
  }
}

/** `path` with `limit` and, after the first page, `continue` added to its query. */
export function pagePath(path: string, limit: number, continueToken: string | undefined): string {
  const url = new URL(path, 'http://x');
  url.searchParams.set('limit', String(limit));
  if (continueToken !== undefined) url.searchParams.set('continue', continueToken);
  return `${url.pathname}${url.search}`;
}

/**
 * GET a list in pages of `limit` items (default 500, client-go's pager size): a Service with thousands of
 * endpoints costs the apiserver bounded memory per request. Throws ApiError as getJson does.
 */
export async function listAll<T>(
  access: KubeAccess,
  path: string,
  opts: { limit?: number; signal?: AbortSignal } = {},
): Promise<ListResult<T>> {
  const limit = opts.limit ?? 500;
  return collectPages<T>((token) => getJson<ListPage<T>>(access, pagePath(path, limit, token), opts.signal));
}

/**
 * Streams a watch: calls `onEvent` per JSON line; resolves when the server ends the stream, rejects
 * on an HTTP error status (ApiError with `status`, e.g. 410) or a broken connection. `idleMs` without
 * a byte (not even a bookmark) counts as a broken connection (a half-open TCP link never ends).
 */
export async function watchLines(
  access: KubeAccess,
  path: string,
  onEvent: (event: { type: string; object: unknown }) => void,
  signal: AbortSignal,
  idleMs: number,
): Promise<void> {
  const res = await open(access, 'GET', path, signal).catch((err: unknown) => {
    throw new ApiError(ERRORS.HPS_KUBE_API, `watch ${path}: ${(err as Error).message}`, { cause: err });
  });
  res.setEncoding('utf8');
  if ((res.statusCode ?? 0) !== 200) {
    let body = '';
    for await (const chunk of res) body += chunk as string;
    throw statusError(`watch ${path}`, res.statusCode ?? 0, body);
  }
  let buffered = '';
  let idle = setTimeout(() => res.destroy(new Error(`no data for ${idleMs} ms`)), idleMs);
  try {
    for await (const chunk of res) {
      clearTimeout(idle);
      idle = setTimeout(() => res.destroy(new Error(`no data for ${idleMs} ms`)), idleMs);
      buffered += chunk as string;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line !== '') onEvent(JSON.parse(line) as { type: string; object: unknown });
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    if (err instanceof ApiError) throw err; // from onEvent, e.g. an ERROR event carrying 410
    throw new ApiError(ERRORS.HPS_KUBE_API, `watch ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(idle);
  }
}
