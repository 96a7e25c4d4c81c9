/**
 * The few Kubernetes API calls the syncer makes (one list, one watch), over node:https.
 *
 * Why not @kubernetes/client-node here: its KubeConfig imports the whole generated API, which measured
 * 125 MB resident and 0.6 s of CPU per process on this machine — for a sidecar in every HAProxy pod,
 * started in bursts of 20 on 2 cores. Its types are still used (`import type`). Supported credentials:
 * the in-cluster service account (token re-read on every request, since projected tokens rotate) and
 * kubeconfig files with client certificates or bearer tokens (exec/OIDC plugins are not supported).
 * https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { dirname, resolve } from 'node:path';
import { ApiError, ConfigError } from '../common/errors.ts';

/** Where the API is and how to authenticate. */
export interface KubeAccess {
  readonly server: URL;
  readonly agent: Agent | undefined;
  /** Bearer token, read at each request (undefined: client certificate only). */
  readonly token: (() => string | undefined) | undefined;
  readonly namespace: string | undefined;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The pod's service account (KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA). */
export function inClusterAccess(env: Readonly<Record<string, string | undefined>>): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new ConfigError(['not in a cluster (KUBERNETES_SERVICE_HOST unset): pass --kubeconfig']);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    server: new URL(`https://${hostPart}:${port}`),
    agent: new Agent({ keepAlive: true, ca: readFileSync(`${SA_DIR}/ca.crt`) }),
    token: () => readFileSync(`${SA_DIR}/token`, 'utf8').trim(),
    namespace: undefined,
  };
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
  clusters?: { name: string; cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean } }[];
  users?: { name: string; user: { token?: string; tokenFile?: string; 'client-certificate'?: string; 'client-certificate-data'?: string; 'client-key'?: string; 'client-key-data'?: string } }[];
}

/** A kubeconfig file's current context (paths in it are relative to the file, as kubectl reads them). */
export async function kubeconfigAccess(path: string): Promise<KubeAccess> {
  const { parse } = await import('yaml'); // only out of cluster: keeps the in-cluster sidecar smaller
  const cfg = parse(readFileSync(path, 'utf8')) as KubeconfigFile;
  const ctx = cfg.contexts?.find((c) => c.name === cfg['current-context'])?.context;
  const cluster = cfg.clusters?.find((c) => c.name === ctx?.cluster)?.cluster;
  const user = cfg.users?.find((u) => u.name === ctx?.user)?.user ?? {};
  if (ctx === undefined || cluster === undefined) throw new ConfigError([`--kubeconfig ${path}: no current context with a cluster`]);
  const base = dirname(path);
  const material = (data: string | undefined, file: string | undefined): Buffer | undefined =>
    data !== undefined ? Buffer.from(data, 'base64') : file !== undefined ? readFileSync(resolve(base, file)) : undefined;
  const server = new URL(cluster.server);
  const tokenFile = user.tokenFile;
  return {
    server,
    agent: server.protocol === 'https:' ? new Agent({
      keepAlive: true,
      ca: material(cluster['certificate-authority-data'], cluster['certificate-authority']),
      cert: material(user['client-certificate-data'], user['client-certificate']),
      key: material(user['client-key-data'], user['client-key']),
      rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    }) : undefined,
    token: user.token !== undefined ? () => user.token : tokenFile !== undefined ? () => readFileSync(resolve(base, tokenFile), 'utf8').trim() : undefined,
    namespace: ctx.namespace,
  };
}

/** An API error with the HTTP status, retryable unless it is a client error other than 408/429. */
function statusError(what: string, status: number, body: string): ApiError {
  let message = body.slice(0, 200);
  try { const m = (JSON.parse(body) as { message?: unknown }).message; if (typeof m === 'string') message = m; } catch { /* not JSON */ }
  return new ApiError(`${what}: ${status} ${message}`, { status, retryable: status >= 500 || status === 408 || status === 429 || status === 410, code: 'HPS_KUBE_API' });
}

/** Opens a GET; resolves with the response once the headers arrived. */
function open(access: KubeAccess, path: string, signal: AbortSignal | undefined) {
  const url = new URL(path, access.server);
  const token = access.token?.();
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'haproxy-peer-sync' };
  if (token) headers.authorization = `Bearer ${token}`;
  const send = url.protocol === 'https:' ? request : httpRequest;
  return new Promise<import('node:http').IncomingMessage>((resolveRes, reject) => {
    const req = send(url, { method: 'GET', headers, agent: access.agent, signal }, resolveRes);
    req.on('error', reject);
    req.end();
  });
}

/** GET a JSON document; throws ApiError on a non-2xx status or a network error. */
export async function getJson<T>(access: KubeAccess, path: string, signal?: AbortSignal): Promise<T> {
  const res = await open(access, path, signal).catch((err: unknown) => { throw new ApiError(`GET ${path}: ${(err as Error).message}`, { retryable: true, cause: err, code: 'HPS_KUBE_API' }); });
  let body = '';
  res.setEncoding('utf8');
  for await (const chunk of res) body += chunk as string;
  if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) throw statusError(`GET ${path}`, res.statusCode ?? 0, body);
  return JSON.parse(body) as T;
}

/**
 * Streams a watch: calls `onEvent` per JSON line; resolves when the server ends the stream, rejects
 * on an HTTP error status (ApiError with `status`, e.g. 410) or a broken connection. `idleMs` without
 * a byte (not even a bookmark) counts as a broken connection (a half-open TCP link never ends).
 */
export async function watchLines(access: KubeAccess, path: string, onEvent: (event: { type: string; object: unknown }) => void, signal: AbortSignal, idleMs: number): Promise<void> {
  const res = await open(access, path, signal).catch((err: unknown) => { throw new ApiError(`watch ${path}: ${(err as Error).message}`, { retryable: true, cause: err, code: 'HPS_KUBE_API' }); });
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
    throw new ApiError(`watch ${path}: ${(err as Error).message}`, { retryable: true, cause: err, code: 'HPS_KUBE_API' });
  } finally {
    clearTimeout(idle);
  }
}
