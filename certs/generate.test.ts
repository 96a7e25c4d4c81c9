import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { certificateInfo, generateCa, generateServingCert, pairIsConsistent, serviceDnsNames } from './generate.ts';

const now = new Date('2026-01-01T00:00:00Z');
const ca = generateCa({ commonName: 'test-ca', validityDays: 3650, now });

test('the serving certificate covers every DNS form of the Service and is issued by the CA', () => {
  const hosts = [...serviceDnsNames('hps-webhook', 'hps-system'), '127.0.0.1'];
  assert.deepEqual(hosts.slice(0, 4), [
    'hps-webhook',
    'hps-webhook.hps-system',
    'hps-webhook.hps-system.svc',
    'hps-webhook.hps-system.svc.cluster.local',
  ]);
  const serving = generateServingCert({ ca, hosts, validityDays: 30, now });
  const info = certificateInfo(serving.certPem);
  assert.deepEqual(info.dnsNames, hosts.slice(0, 4));
  assert.deepEqual(info.ipAddresses, ['127.0.0.1']);
  assert.equal(info.notAfter.getTime(), now.getTime() + 30 * 86400_000);
  assert.ok(pairIsConsistent({ ...serving, caPem: ca.certPem }, hosts));
  assert.ok(!pairIsConsistent({ ...serving, caPem: ca.certPem }, ['other.svc']), 'a host it does not cover');
  const x = new X509Certificate(serving.certPem);
  assert.equal(x.publicKey.asymmetricKeyType, 'rsa');
  assert.equal(x.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.ok(new X509Certificate(ca.certPem).ca);
});

test('serials are random and positive', () => {
  const a = certificateInfo(generateServingCert({ ca, hosts: ['a'], validityDays: 1, now }).certPem).serialNumber;
  const b = certificateInfo(generateServingCert({ ca, hosts: ['a'], validityDays: 1, now }).certPem).serialNumber;
  assert.notEqual(a, b);
  assert.ok(parseInt(a.slice(0, 2), 16) < 0x80);
});

test('a pair from another CA or with the wrong key is refused', () => {
  const other = generateCa({ commonName: 'other', validityDays: 10, now });
  const serving = generateServingCert({ ca, hosts: ['a'], validityDays: 1, now });
  assert.ok(!pairIsConsistent({ ...serving, caPem: other.certPem }, ['a']));
  assert.ok(!pairIsConsistent({ certPem: serving.certPem, keyPem: other.keyPem, caPem: ca.certPem }, ['a']));
});
