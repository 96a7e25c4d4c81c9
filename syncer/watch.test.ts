// The slice watch against a small fake API server on port 0: list, watch events, 410 → relist.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { watchEndpointSlices } from './watch.ts';
import { kubeconfigAccess } from './kube-client.ts';
import { createLogger } from '../common/logger.ts';

const slice = (name: string, rv: string, pods: string[]) => ({
  metadata: { name, resourceVersion: rv },
  addressType: 'IPv4',
  endpoints: pods.map((p, i) => ({ addresses: [`10.0.0.${i + 1}`], targetRef: { kind: 'Pod', name: p } })),
});

const requests: string[] = [];
let lists = 0;
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? '/', 'http://x');
  requests.push(
    `${url.pathname}?${url.searchParams.get('labelSelector')}&watch=${url.searchParams.get('watch')}&rv=${url.searchParams.get('resourceVersion')}`,
  );
  res.setHeader('content-type', 'application/json');
  if (url.searchParams.get('watch') !== 'true') {
    lists++;
    const items = lists === 1 ? [slice('web-a', '5', ['p1'])] : [slice('web-b', '20', ['p3'])];
    res.end(JSON.stringify({ metadata: { resourceVersion: lists === 1 ? '5' : '20' }, items }));
    return;
  }
  if (lists === 1) {
    // One change, then the server says the version is too old (410): the client must relist.
    res.write(`${JSON.stringify({ type: 'MODIFIED', object: slice('web-a', '6', ['p1', 'p2']) })}\n`);
    res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old' } })}\n`);
    return;
  }
  // Second watch: stays open until the client stops.
  res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '21' } } })}\n`);
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as { port: number }).port;
const dir = mkdtempSync(join(tmpdir(), 'hps-watch-'));
after(() => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('lists, applies watch events, relists after 410 and replaces the cache', async () => {
  const path = join(dir, 'kubeconfig');
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
current-context: c
contexts: [{ name: c, context: { cluster: k, user: u } }]
clusters: [{ name: k, cluster: { server: "http://127.0.0.1:${port}" } }]
users: [{ name: u, user: { token: t0k3n } }]
`,
  );
  const access = await kubeconfigAccess(path);
  const seen: string[] = [];
  const w = watchEndpointSlices({
    access,
    namespace: 'ns',
    service: 'web',
    log: createLogger('test', 'silent'),
    onChange: () => {
      seen.push((w.slices() ?? []).map((s) => `${s.metadata?.name}:${s.endpoints?.length}`).join(','));
    },
    backoff: { baseMs: 1, maxMs: 5 },
  });
  assert.equal(w.slices(), undefined, 'nothing before the first list');
  for (let i = 0; i < 500 && !(seen.includes('web-b:1') && requests.length >= 4); i++)
    await new Promise((r) => setTimeout(r, 10));
  await w.stop();
  assert.deepEqual(seen, ['web-a:1', 'web-a:2', 'web-b:1']);
  assert.match(
    requests[0] ?? '',
    /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/ns\/endpointslices\?kubernetes\.io\/service-name=web&watch=null/,
  );
  assert.match(requests[1] ?? '', /watch=true&rv=5$/);
  assert.match(requests[3] ?? '', /watch=true&rv=20$/);
});
