/**
 * The lab's sticky backend: a tiny HTTP server that says who it is, so a test (or a user with curl) sees
 * which backend pod served a request. It answers like traefik/whoami, the image the examples use:
 * `GET /` → `Hostname: <pod>` plus the request, `GET /api` → JSON, `GET /health` → 200 (a `POST /health`
 * with a status code in the body changes it, to fail readiness on purpose). Every answer also carries
 * `X-Served-By: <hostname>`. Flags: `--port` (default 80, as whoami), `--name`; the lab adds
 * `--lab-bind=<pod IP>`, standing in for "all addresses of my network namespace".
 *
 * Run: `node test/harness/sticky-backend.ts --port=8080` (in a pod its hostname is the pod name).
 */
import { createServer, type Server } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';

/** Options of {@link createStickyBackend}. */
export interface StickyBackendOptions {
  /** Identifies this backend in answers; default: the hostname (the pod name, in a pod). */
  readonly hostname?: string;
  /** whoami's `--name`: an extra `Name:` line. */
  readonly name?: string;
  /** Addresses listed as `IP:`; default: this machine's interfaces. */
  readonly ips?: readonly string[];
}

/** The HTTP server, not listening yet (tests listen on port 0). */
export function createStickyBackend(opts: StickyBackendOptions = {}): Server {
  const self = opts.hostname ?? hostname();
  let healthStatus = 200;
  return createServer((req, res) => {
    res.setHeader('X-Served-By', self);
    const url = new URL(req.url ?? '/', 'http://backend');
    if (url.pathname === '/health') {
      if (req.method === 'POST') {
        let body = '';
        req.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        req.on('end', () => {
          const code = Number(body.trim());
          if (Number.isInteger(code) && code >= 100 && code < 600) healthStatus = code;
          res.writeHead(200).end();
        });
        return;
      }
      res.writeHead(healthStatus).end();
      return;
    }
    const ips =
      opts.ips ??
      Object.values(networkInterfaces())
        .flat()
        .map((i) => i?.address)
        .filter((a): a is string => a !== undefined);
    if (url.pathname === '/api') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          hostname: self,
          ...(opts.name !== undefined ? { name: opts.name } : {}),
          ip: ips,
          headers: req.headers,
          url: req.url,
          method: req.method,
          remoteAddr: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`,
        }),
      );
      return;
    }
    const lines = [
      ...(opts.name !== undefined ? [`Name: ${opts.name}`] : []),
      `Hostname: ${self}`,
      ...ips.map((ip) => `IP: ${ip}`),
      `RemoteAddr: ${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`,
      `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`,
      ...Object.entries(req.headersDistinct).flatMap(([k, vs]) =>
        (vs ?? []).map((v) => `${k.replace(/(^|-)\w/g, (s) => s.toUpperCase())}: ${v}`),
      ),
    ];
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${lines.join('\n')}\n\n`);
  });
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '80' },
      name: { type: 'string' },
      'lab-bind': { type: 'string' },
      verbose: { type: 'boolean' },
    },
    strict: false,
  });
  const port = Number(values.port);
  const host = typeof values['lab-bind'] === 'string' ? values['lab-bind'] : '0.0.0.0';
  // In the lab the pod's only address is the one it binds; the host's interfaces are not the pod's.
  const server = createStickyBackend({
    ...(typeof values.name === 'string' ? { name: values.name } : {}),
    ...(host !== '0.0.0.0' ? { ips: [host] } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  console.log(JSON.stringify({ msg: 'sticky backend listening', hostname: hostname(), address: `${host}:${port}` }));
  // SIGTERM (pod deletion): stop accepting, let in-flight requests finish, exit 0.
  process.once('SIGTERM', () => {
    console.log(JSON.stringify({ msg: 'SIGTERM: shutting down', hostname: hostname() }));
    server.close(); // the event loop then empties and the process exits 0
    server.closeIdleConnections();
  });
}

if (import.meta.main) await main(process.argv.slice(2));
