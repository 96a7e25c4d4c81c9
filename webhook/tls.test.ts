// TLS over a real socket: 1.2+ only, and a rotated key pair is served to new connections while an
// open connection keeps working, without a restart.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { connect } from 'node:tls';
import { build, listen } from './server.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import { certificateInfo } from '../certs/generate.ts';
import { fetchHttps, podReview, silentLogger, TEST_CONFIG, testKeyPair } from '../test/support/webhook.ts';

const first = testKeyPair();
const second = testKeyPair();
const keyPairs = new StaticKeyPairSource(first);
await keyPairs.start();
const app = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs });
after(() => app.close());
const { port } = await listen(app, { host: '127.0.0.1', port: 0 });
const url = `https://127.0.0.1:${port}/healthz`;
const serial = (pem: string) => certificateInfo(pem).serialNumber;

test('TLS 1.1 is refused, TLS 1.2 is accepted', async () => {
  await assert.rejects(fetchHttps(url, { ca: first.caPem, maxVersion: 'TLSv1.1' }), /protocol|version|alert/i);
  const ok = await fetchHttps(url, { ca: first.caPem, maxVersion: 'TLSv1.2' });
  assert.equal(ok.status, 200);
});

test('a rotated certificate is served to new connections; an open connection keeps working', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  after(() => agent.destroy());
  const before = await fetchHttps(url, { ca: first.caPem, agent });
  assert.equal(before.peer.serialNumber, serial(first.certPem));

  keyPairs.replace(second);
  // Same keep-alive connection, negotiated with the old certificate: still served.
  const sameConnection = await fetchHttps(url, { ca: first.caPem, agent });
  assert.equal(sameConnection.status, 200);
  assert.equal(sameConnection.peer.serialNumber, serial(first.certPem));
  // New connections get the new certificate (and the old CA no longer verifies it).
  const fresh = await fetchHttps(url, { ca: second.caPem });
  assert.equal(fresh.peer.serialNumber, serial(second.certPem));
  await assert.rejects(fetchHttps(url, { ca: first.caPem }), /self-signed|unable to verify|certificate/i);
  await assert.rejects(fetchHttps(url, { ca: second.caPem, maxVersion: 'TLSv1.1' }), /protocol|version|alert/i);
});

test('a server with no certificate yet refuses handshakes instead of serving something', async () => {
  const pending = new StaticKeyPairSource(first);
  const other = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs: pending });
  after(() => other.close());
  const { port: p } = await listen(other, { host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: p, ca: first.caPem });
    socket.on('error', () => resolve());
    socket.on('secureConnect', () => assert.fail('handshake without a certificate'));
  });
  await pending.start();
  assert.equal((await fetchHttps(`https://127.0.0.1:${p}/readyz`, { ca: first.caPem })).status, 200);
});

test(
  'close answers the request in flight, then drops idle and half-open connections instead of waiting for them',
  { timeout: 60_000 },
  async () => {
    const pair = testKeyPair();
    const source = new StaticKeyPairSource(pair);
    await source.start();
    let release: () => void = () => undefined;
    let entered: () => void = () => undefined;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const closing = await build({
      config: TEST_CONFIG,
      logger: silentLogger(),
      keyPairs: source,
      accessWarnings: async () => {
        entered();
        await gate;
        return [];
      },
    });
    const { port: p } = await listen(closing, { host: '127.0.0.1', port: 0 });
    const base = `https://127.0.0.1:${p}`;
    // An idle keep-alive connection, like the apiserver's, and a connection that never sends a request.
    const agent = new Agent({ keepAlive: true });
    after(() => agent.destroy());
    assert.equal((await fetchHttps(`${base}/healthz`, { ca: pair.caPem, agent })).status, 200);
    const halfOpen = connect({ host: '127.0.0.1', port: p, ca: pair.caPem });
    // This client never ends the connection itself: an end of stream or a reset can only come from the server.
    const halfOpenEnded = new Promise<string>((resolve) => {
      halfOpen.once('end', () => resolve('ended by the server'));
      halfOpen.once('error', (err: NodeJS.ErrnoException) =>
        resolve(err.code === 'ECONNRESET' ? 'ended by the server' : `error ${err.code ?? err.message}`),
      );
    });
    await new Promise<void>((resolve) => halfOpen.once('secureConnect', () => resolve()));

    const pod = {
      metadata: { name: 'p', namespace: 'default', labels: { app: 'h', 'haproxy-peer-sync.io/inject': 'true' } },
      spec: { containers: [{ name: 'haproxy', image: 'haproxy' }] },
    };
    const inflight = fetchHttps(`${base}/mutate`, {
      ca: pair.caPem,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(podReview(pod)),
    });
    await inHandler;
    assert.equal(halfOpen.readyState, 'open', 'the half-open connection is open until the server closes');
    const closed = closing.close();
    release();
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { response: { allowed: boolean } }).response.allowed, true);
    await closed;
    // close() resolved without waiting for the client, and the client sees its connection ended.
    assert.equal(await halfOpenEnded, 'ended by the server');
  },
);
