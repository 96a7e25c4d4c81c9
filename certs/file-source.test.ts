import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKeyPairSource } from './file-source.ts';
import { generateCa, generateServingCert } from './generate.ts';

const dir = mkdtempSync(join(tmpdir(), 'hps-certs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('files mounted from a Secret are loaded and a rotation is picked up', async () => {
  const now = new Date();
  const ca = generateCa({ commonName: 'ca', validityDays: 10, now });
  const write = () => {
    const s = generateServingCert({ ca, hosts: ['a.svc'], validityDays: 1, now });
    writeFileSync(join(dir, 'tls.crt'), s.certPem);
    writeFileSync(join(dir, 'tls.key'), s.keyPem);
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    return s;
  };
  const first = write();
  const source = new FileKeyPairSource({
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    caFile: join(dir, 'ca.crt'),
    pollMs: 3_600_000,
  });
  after(() => source.stop());
  await source.start();
  assert.equal(source.current()?.certPem, first.certPem);
  assert.equal(await source.refresh(), false, 'unchanged files: no swap');
  const second = write();
  assert.equal(await source.refresh(), true);
  assert.equal(source.current()?.certPem, second.certPem);

  // A half-written rotation (new cert, old key) is refused and the previous pair is kept.
  writeFileSync(join(dir, 'tls.crt'), generateServingCert({ ca, hosts: ['a.svc'], validityDays: 1, now }).certPem);
  await assert.rejects(source.refresh(), /do not form a key pair/);
  assert.equal(source.current()?.certPem, second.certPem);
});
