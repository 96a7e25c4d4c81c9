/**
 * The baseline of `npm run bench:webhook`: a bare fastify HTTPS server with what our webhook's server
 * has on the wire (node:https, TLS 1.2 minimum, the same key pair, the same body limit, fastify's JSON
 * parser) and nothing else: POST /mutate parses the AdmissionReview and allows it with an empty JSON
 * patch. What our webhook costs beyond this is ours to cut.
 *
 * usage: node bench/bare-webhook.ts <cert.pem> <key.pem> <port>
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import Fastify from 'fastify';

const [certFile, keyFile, portText] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined || portText === undefined) {
  process.stderr.write('usage: node bench/bare-webhook.ts <cert.pem> <key.pem> <port>\n');
  process.exit(2);
}
/** webhook/server.ts's BODY_LIMIT (not imported: this server loads nothing of ours). */
const BODY_LIMIT = 3 * 1024 * 1024;
const tls = { minVersion: 'TLSv1.2' as const, cert: readFileSync(certFile), key: readFileSync(keyFile) };
const app = Fastify({ bodyLimit: BODY_LIMIT, serverFactory: (handler) => createServer(tls, handler) });
app.post('/mutate', async (request) => {
  const uid = (request.body as { request?: { uid?: unknown } } | null)?.request?.uid;
  // The shape the apiserver expects (and the load generator checks): allowed, with a JSON patch.
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from('[]').toString('base64') },
  };
});
app.get('/readyz', async () => 'ok');
await app.listen({ host: '127.0.0.1', port: Number(portText) });
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
