/**
 * /healthz, /readyz, /startupz, /metrics and /status (JSON, syncer/status.ts) on plain node:http (one small server, no framework: the sidecar's
 * resident memory is part of the product's cost). `build` is separate from `listen` for tests.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from './prometheus.ts';

export interface HealthSource {
  /** Ready, and why (the reason is the /readyz body, for `kubectl describe` and humans). */
  readiness(): { ready: boolean; reason: string };
  /** For /startupz (the start-up gate, see startup.ts). */
  startup(): { ready: boolean; reason: string };
  readonly registry: Registry;
  /** For /status: this replica's status document (read by `haproxy-peer-sync status` through the apiserver's pod proxy). */
  status?(): Promise<unknown>;
}

/** The request handler; answers 404 for anything else and 405 for anything but GET/HEAD. */
export function buildHealthServer(source: HealthSource): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz' || path === '/startupz') {
      const r = path === '/readyz' ? source.readiness() : source.startup();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${r.reason}\n`);
      return;
    }
    if (path === '/metrics') {
      source.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': source.registry.contentType }).end(text);
        },
        () => {
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (path === '/status' && source.status !== undefined) {
      source.status().then(
        (doc) => {
          res
            .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
            .end(`${JSON.stringify(doc)}\n`);
        },
        () => {
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404).end();
  });
}

/** Listens and resolves with the bound port (0 picks a free one). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
}
